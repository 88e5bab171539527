try:
    from llm_loadtest.cli import main
except KeyboardInterrupt:  # Ctrl+C while Python imports the command: 130, no traceback
    raise SystemExit(130) from None

raise SystemExit(main())
