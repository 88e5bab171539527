"""The built-in OpenAI-compatible LLM server simulator (`llm-loadtest simulate`).

- options.py: SimOptions, the settings (one per `simulate` flag)
- batching.py: the continuous-batching scheduler that times every chunk
- faults.py: seeded per-request fault decisions
- protocol.py / encoding.py: reading OpenAI requests / writing OpenAI responses
- serving.py: what both APIs share: state, API-key check, the generation flow (faults, writes, log)
- openai_api.py / triton_api.py: each API's routes, request parsing and response bytes
- metrics.py: /metrics; chunklog.py: the truth log
- server.py: app factory, `start_server` (in-process) and `run` (the command)
- process.py: SimulatorProcess, the simulator in a child process
- command.py: the command-line flags, shared by `llm-loadtest simulate` and `python -m`
"""
