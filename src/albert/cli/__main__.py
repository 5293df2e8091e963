from albert.cli import main

main()
