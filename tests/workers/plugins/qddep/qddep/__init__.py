VALUE = "from qddep"
