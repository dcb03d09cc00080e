from imgbench.cli import main

raise SystemExit(main())
