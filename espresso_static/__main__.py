from espresso_static.cli import main

main()
