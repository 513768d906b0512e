from careweave.cli import main

main()
