from newswatch.cli.app import main

main()
