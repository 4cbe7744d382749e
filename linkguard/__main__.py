from linkguard.cli.root import main

main()
