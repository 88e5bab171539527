"""The load engine: load patterns, request records, progress; never imports Textual."""
