import Testing
@testable import Proxy
@testable import System

/// ClientPatience on its own (issue 13, timeout storm): what the clients'
/// own leaving proves about how long they wait, and what does not.
@Suite struct ProxyUnitClientPatienceTests {
    let start = Instant(nanoseconds: 5_000_000_000)

    func at(_ seconds: Double) -> Instant { start.adding(seconds: seconds) }

    @Test func noClientLeftMeansNoBound() {
        var patience = ClientPatience()
        for _ in 0..<100 { patience.answered(age: 3.0) }
        let bound = patience.waitBound(now: at(1))
        #expect(bound == nil)
    }

    @Test func eightClientsLeavingAtOneSecondBoundTheWaitWithAMargin() throws {
        var patience = ClientPatience()
        for i in 0..<7 { patience.clientLeft(age: 1.0, now: at(Double(i) * 0.1)) }
        let early = patience.waitBound(now: at(0.7))
        #expect(early == nil, "seven are not yet a population")
        patience.clientLeft(age: 1.0, now: at(0.8))
        let found = patience.waitBound(now: at(0.9))
        let bound = try #require(found)
        #expect(abs(bound - 0.9) < 1e-9, "1 s less the 10% margin: \(bound)")
        #expect(patience.patience == 1.0)
    }

    /// A few very impatient clients (curl -m 0.1) do not set the bound for
    /// the rest: it is the 20th percentile of the ages at which they left.
    @Test func aFewImpatientClientsDoNotSetTheBound() throws {
        var patience = ClientPatience()
        for i in 0..<2 { patience.clientLeft(age: 0.1, now: at(Double(i) * 0.01)) }
        for i in 0..<10 { patience.clientLeft(age: 1.5, now: at(0.1 + Double(i) * 0.01)) }
        let found = patience.waitBound(now: at(0.3))
        let bound = try #require(found)
        #expect(abs(bound - 1.35) < 1e-9, "\(bound)")
    }

    /// Clients answered later than the candidate bound, more of them than
    /// left by then, prove the population waits: no bound.
    @Test func patientClientsAnsweredLaterLiftTheBound() throws {
        var patience = ClientPatience()
        for i in 0..<10 { patience.clientLeft(age: 1.0, now: at(Double(i) * 0.01)) }
        let before = patience.waitBound(now: at(0.2))
        #expect(before != nil)
        for _ in 0..<11 { patience.answered(age: 1.8) }
        // Weighed again no sooner than 50 ms later.
        let after = patience.waitBound(now: at(0.3))
        #expect(after == nil, "11 answered after 1 s against 10 that left")
        // Answers sooner than the candidate say nothing about it.
        var other = ClientPatience()
        for i in 0..<10 { other.clientLeft(age: 1.0, now: at(Double(i) * 0.01)) }
        for _ in 0..<200 { other.answered(age: 0.3) }
        let unmoved = other.waitBound(now: at(0.3))
        #expect(unmoved != nil)
    }

    @Test func theBoundIsForgottenAMinuteAfterTheLastClientLeft() throws {
        var patience = ClientPatience()
        for i in 0..<8 { patience.clientLeft(age: 0.5, now: at(Double(i))) }
        let kept = patience.waitBound(now: at(66.9))
        #expect(kept != nil)
        let forgotten = patience.waitBound(now: at(67.1))
        #expect(forgotten == nil)
        // And learnt again from scratch.
        patience.clientLeft(age: 0.5, now: at(70))
        let relearning = patience.waitBound(now: at(70.1))
        #expect(relearning == nil)
    }

    @Test func nonsenseAgesAreIgnored() {
        var patience = ClientPatience()
        for _ in 0..<20 {
            patience.clientLeft(age: .nan, now: at(0))
            patience.clientLeft(age: -1, now: at(0))
            patience.clientLeft(age: .infinity, now: at(0))
        }
        let bound = patience.waitBound(now: at(1))
        #expect(bound == nil)
    }
}
