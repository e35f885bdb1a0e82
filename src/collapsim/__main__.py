from collapsim.launch import main

main()
