from eventgate.cli import main

main()
