import System

/// One request's trip through the proxy: read whole from the client, queued
/// or handed to a worker, answered (or refused), logged. The client may go
/// away at any point; the worker's slot is still held until the worker has
/// finished (proxy-checklist "things no common proxy gets right" 4).
final class Exchange {
    enum Phase { case queued, dispatched, responding, done }

    /// nil once the client has gone: the answer is read and discarded.
    weak var client: ProxyClientConnection?
    /// The request exactly as it goes upstream (head and body), kept for retries.
    let request: [UInt8]
    let isIdempotent: Bool
    let isHead: Bool
    let clientIsHTTP10: Bool
    /// Where the X-Request-Id value sits in `request`: the id drover logs
    /// and answers with is read from there, not kept as a second copy.
    let requestIDRange: Range<Int>
    var requestID: String { String(decoding: request[requestIDRange], as: UTF8.self) }
    /// For the access log: `METHOD target HTTP/1.x`, only built when it is on.
    var requestLine: String = ""
    var userAgent: String = ""
    var referer: String = ""
    var clientAddress: String = ""

    var phase: Phase = .queued
    var attempts = 0
    var triedWorkers: [ObjectIdentifier] = []
    /// Taken out of the queue (client left or deadline): skipped when dequeued.
    var cancelled = false
    var worker: WorkerSlot?
    var upstream: UpstreamConnection?

    let receivedAt: Instant
    /// When it last joined the pool's queue (on the loop's clock): its
    /// queue_timeout deadline counts from here.
    var queuedAt: Instant?
    var dispatchedAt: Instant?
    var respondedAt: Instant?
    var status = 0
    var bytesToClient = 0
    var retried = 0
    /// Request body bytes held against the proxy's budget until done.
    var bufferedBodyBytes = 0
    /// Its client left while a worker had it: the worker finishes, nobody reads.
    var answerForNobody = false
    /// Its client closed its side (FIN) while a worker had it: answered all
    /// the same (a half-close), but counted as a client that left for
    /// ClientPatience, since a client timeout closes the same way.
    var clientClosedWriteEarly = false
    /// A health probe carried through the pool (WorkerProbe): it has no
    /// client, holds a probe slot rather than a request one, and is neither
    /// logged nor counted as a request.
    let isProbe: Bool
    /// The probe it carries, while the supervisor still wants the answer.
    weak var probe: WorkerProbe?

    init(client: ProxyClientConnection, request: [UInt8], isIdempotent: Bool, isHead: Bool,
         clientIsHTTP10: Bool, requestIDRange: Range<Int>, receivedAt: Instant) {
        self.client = client
        self.request = request
        self.isIdempotent = isIdempotent
        self.isHead = isHead
        self.clientIsHTTP10 = clientIsHTTP10
        self.requestIDRange = requestIDRange
        self.receivedAt = receivedAt
        isProbe = false
    }

    init(probe: WorkerProbe) {
        client = nil
        request = probe.request
        isIdempotent = true
        isHead = false
        clientIsHTTP10 = false
        requestIDRange = 0..<0
        receivedAt = .now
        isProbe = true
        self.probe = probe
    }

    var clientGone: Bool { client == nil }
}

/// One ready worker as the proxy sees it: where it listens, how many
/// requests it holds, and its idle keep-alive connections.
final class WorkerSlot {
    let id: WorkerID
    let name: String
    let port: Int
    let maxInflight: Int
    var inflight = 0
    /// Health probes on the wire to it; each holds one of its max_inflight.
    var probesInFlight = 0
    /// A probe waiting for one of its slots to free (it goes ahead of the queue).
    var waitingProbe: WorkerProbe?
    /// In the upstream list; false once it died, stopped or is draining.
    var isMember = true
    var idle: [UpstreamConnection] = []
    var served = 0
    /// Its health probe's round trip when it joined (admission's floor).
    var probeSeconds: Double?

    init(id: WorkerID, name: String, port: Int, maxInflight: Int, probeSeconds: Double? = nil) {
        self.id = id
        self.name = name
        self.port = port
        self.maxInflight = maxInflight
        self.probeSeconds = probeSeconds
    }

    var hasCapacity: Bool { isMember && (maxInflight == 0 || inflight + probesInFlight < maxInflight) }

    func closeIdle() {
        let connections = idle
        idle = []
        for connection in connections { connection.close() }
    }
}
