import CSystem

print("demo worker")
