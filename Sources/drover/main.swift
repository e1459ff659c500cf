import Drover

print("drover")
