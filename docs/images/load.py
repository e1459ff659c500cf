# Closed-loop load: C clients POST /predict through the proxy for S seconds.
import http.client, sys, threading, time, random
port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
texts = ["I love this phone, the battery lasts for days", "terrible service, never again",
         "it was fine I guess", "absolutely wonderful experience, highly recommended",
         "the screen cracked after a week and support ignored me"]
end = time.time() + seconds
done = [0]
def client():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.time() < end:
        try:
            conn.request("POST", "/predict", body=random.choice(texts) * random.randint(1, 4))
            conn.getresponse().read()
            done[0] += 1
        except Exception:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print("requests", done[0])
