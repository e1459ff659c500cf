import Glibc
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

@Suite struct AdminBearerTokenTests {
    let token = Array("s3cret-Token_42".utf8)

    func matches(_ header: String?) -> Bool { BearerToken.matches(authorizationHeader: header, token: token) }

    @Test func adminRightTokenMatches() {
        #expect(matches("Bearer s3cret-Token_42"))
        #expect(matches("bearer s3cret-Token_42"), "the scheme is case-insensitive")
        #expect(matches("BEARER s3cret-Token_42"))
        #expect(matches("  Bearer   s3cret-Token_42  "), "optional whitespace around the value and after the scheme")
        #expect(matches("Bearer\ts3cret-Token_42"))
    }

    @Test func adminWrongTokensDoNotMatch() {
        #expect(!matches("Bearer s3cret-Token_43"), "last byte differs")
        #expect(!matches("Bearer S3cret-Token_42"), "the token itself is case-sensitive")
        #expect(!matches("Bearer s3cret-Token_4"), "a prefix of the token")
        #expect(!matches("Bearer s3cret-Token_42x"), "longer than the token")
        #expect(!matches("Bearer s3cret-Token_42 s3cret-Token_42"))
        #expect(!matches("Bearer " + String(repeating: "s", count: 1000)))
    }

    @Test func adminWrongSchemeOrEmptyDoesNotMatch() {
        #expect(!matches(nil))
        #expect(!matches(""))
        #expect(!matches("Bearer"))
        #expect(!matches("Bearer "))
        #expect(!matches("Basic s3cret-Token_42"))
        #expect(!matches("Bearers3cret-Token_42"), "the scheme needs a space after it")
        #expect(!matches("Token s3cret-Token_42"))
        #expect(!matches("s3cret-Token_42"), "the bare token without a scheme")
        #expect(!matches("Bearør s3cret-Token_42"))
        #expect(!BearerToken.matches(authorizationHeader: "Bearer ", token: []), "an empty configured token never matches")
        #expect(!BearerToken.matches(authorizationHeader: "Bearer x", token: []))
    }

    @Test func adminConstantTimeCompareScansWholeToken() {
        #expect(BearerToken.constantTimeEqual(ArraySlice(token), token))
        #expect(!BearerToken.constantTimeEqual([], token))
        #expect(!BearerToken.constantTimeEqual(ArraySlice(token + [0]), token), "trailing NUL is not ignored")
        #expect(!BearerToken.constantTimeEqual(ArraySlice(token.dropLast()), token))
        // A slice that does not start at index 0 (as header parsing produces).
        let header = Array("xxxx".utf8) + token
        #expect(BearerToken.constantTimeEqual(header[4...], token))
        #expect(!BearerToken.constantTimeEqual(header[3...], token))
    }

    // MARK: - Token file

    func withTempFile(_ contents: String, mode: mode_t, _ body: (String) -> Void) {
        var template = Array("/tmp/drover-admin-token-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0)
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        _ = Array(contents.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
        body(path)
    }

    @Test func adminLoadsTokenAndTrimsNewline() {
        withTempFile("s3cret-Token_42\n", mode: 0o600) { path in
            let loaded = BearerToken.load(path: path)
            #expect(loaded == .success(BearerToken.Loaded(token: token, warning: nil)))
        }
        withTempFile("  tok\r\n\n", mode: 0o400) { path in
            #expect((try? BearerToken.load(path: path).get())?.token == Array("tok".utf8))
        }
    }

    @Test func adminWarnsWhenOthersCanReadTheTokenFile() {
        withTempFile("tok\n", mode: 0o644) { path in
            let loaded = try? BearerToken.load(path: path).get()
            #expect(loaded?.token == Array("tok".utf8), "still usable")
            #expect(loaded?.warning?.contains(path) == true)
            #expect(loaded?.warning?.contains("0644") == true)
        }
        withTempFile("tok\n", mode: 0o640) { path in
            #expect((try? BearerToken.load(path: path).get())?.warning != nil)
        }
    }

    @Test func adminRejectsEmptyMissingAndHugeTokenFiles() {
        withTempFile("", mode: 0o600) { path in
            #expect(BearerToken.load(path: path) == .failure(.empty(path: path)))
        }
        withTempFile(" \n\t\n", mode: 0o600) { path in
            #expect(BearerToken.load(path: path) == .failure(.empty(path: path)))
        }
        withTempFile(String(repeating: "x", count: 5000), mode: 0o600) { path in
            #expect(BearerToken.load(path: path) == .failure(.tooLarge(path: path)))
        }
        let missing = "/tmp/drover-admin-no-such-token-file"
        guard case .failure(.system(let error)) = BearerToken.load(path: missing) else {
            Issue.record("a missing file loaded"); return
        }
        #expect(error.errno == ENOENT)
        #expect(BearerToken.LoadError.system(error).description.contains(missing))
    }
}
