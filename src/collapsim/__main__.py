from collapsim.cli import main

main()
