print("hotmoe")
