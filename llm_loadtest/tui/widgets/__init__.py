"""Reusable widgets: charts, run and level tables, figure cards."""
