from collapsim.commands.launch import main

main()
