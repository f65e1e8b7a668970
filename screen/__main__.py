from screen.cli import main

main()
