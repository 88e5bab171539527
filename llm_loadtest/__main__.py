from llm_loadtest.cli import main

raise SystemExit(main())
