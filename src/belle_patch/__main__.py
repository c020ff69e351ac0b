from belle_patch.entry import main

main()
