from albert.cli import main

if __name__ == "__main__":  # only when run: importing it (as a spawned process may) does nothing
    main()
