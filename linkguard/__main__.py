from linkguard.cli import main

main()
