"""Capacity search (`llm-loadtest recommend`): the largest load a server holds within its
SLOs, and the replicas and GPUs a peak load needs. It drives the engine's controller."""
