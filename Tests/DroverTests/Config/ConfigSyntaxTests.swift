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

@Suite struct ConfigIniParserTests {
    func parse(_ text: String) -> IniFile { IniParser.parse(text, path: "/etc/x.conf") }

    @Test func sectionsKeysAndDelimiters() {
        let f = parse("[program:Web]\nCommand = /bin/run\nprograms:gunicorn\nstartsecs\t= 0\n[Other]\nk=v")
        #expect(f.errors.isEmpty)
        #expect(f.sections.map(\.name) == ["program:Web", "Other"])
        let s = f.sections[0]
        #expect(s["command"]?.value == "/bin/run")  // keys lowercased
        #expect(s["programs"]?.value == "gunicorn")  // ':' delimiter
        #expect(s["startsecs"]?.value == "0")  // TAB before '='
        #expect(s["command"]?.line == 2)
        #expect(s.line == 1)
        #expect(f.sections[1].line == 5)
    }

    @Test func firstDelimiterWins() {
        let f = parse("[a]\nurl = http://x:1/\nk: a=b\n")
        #expect(f.sections[0]["url"]?.value == "http://x:1/")
        #expect(f.sections[0]["k"]?.value == "a=b")
    }

    @Test func comments() {
        let text = """
        ; a comment
        # another
        [a]
          ; indented comment
        cmd=nginx -g "daemon off;"
        name=%(program_name)s_%(process_num)02d;
        x=1 ; trailing
        y=2\t# trailing too
        z=a;b#c
        """
        let s = parse(text).sections[0]
        #expect(s["cmd"]?.value == "nginx -g \"daemon off;\"")
        #expect(s["name"]?.value == "%(program_name)s_%(process_num)02d;")
        #expect(s["x"]?.value == "1")
        #expect(s["y"]?.value == "2")
        #expect(s["z"]?.value == "a;b#c")
    }

    @Test func continuationLines() {
        let text = "[a]\ncommand=/bin/x\n    --one\n\n    --two\n  ; comment inside\n    --three\n\n\nnext=1\nenv=\n    A=1,\n    B=2\n"
        let s = parse(text).sections[0]
        #expect(s["command"]?.value == "/bin/x\n--one\n\n--two\n--three")
        #expect(s["next"]?.value == "1")
        #expect(s["env"]?.value == "\nA=1,\nB=2")
    }

    @Test func crlfUtf8NoFinalNewlineEmptyValue() {
        let f = parse("[a]\r\nname=日本語 🚀 ; 注释 ✅\r\nempty=\r\nlast=end")
        let s = f.sections[0]
        #expect(s["name"]?.value == "日本語 🚀")
        #expect(s["empty"]?.value == "")
        #expect(s["last"]?.value == "end")
        #expect(s["last"]?.line == 4)
    }

    @Test func duplicateKeysAndSectionsLaterWins() {
        let f = parse("[a]\nk=1\n[b]\nq=0\n[a]\nk=2\nm=3")
        #expect(f.sections.count == 2)
        #expect(f.sections[0]["k"]?.value == "2")
        #expect(f.sections[0]["k"]?.line == 6)
        #expect(f.sections[0]["m"]?.value == "3")
    }

    @Test func syntaxErrorsHaveLines() {
        let f = parse("key=before\n[a]\njust words\n=novalue\nok=1")
        #expect(f.errors.map(\.line) == [1, 3, 4])
        #expect(f.sections[0]["ok"]?.value == "1")
    }
}

@Suite struct ConfigExpansionTests {
    let values: [String: ExpansionValue] = [
        "program_name": .string("web"), "process_num": .int(3), "here": .string("/etc"), "ENV_HOME": .string("/root"),
    ]

    @Test func pythonFormatting() throws {
        #expect(try PercentExpansion.expand("%(program_name)s_%(process_num)02d", values) == "web_03")
        #expect(try PercentExpansion.expand("%(process_num)d %(process_num)5d|%(process_num)-4d|", values) == "3     3|3   |")
        #expect(try PercentExpansion.expand("%(process_num)+d %(process_num)x %(process_num)s", values) == "+3 3 3")
        #expect(try PercentExpansion.expand("100%% %(here)s/x %(ENV_HOME)s", values) == "100% /etc/x /root")
        #expect(try PercentExpansion.expand("%(program_name).2s|%(program_name)5s", values) == "we|  web")
        #expect(try PercentExpansion.expand("no percent", values) == "no percent")
    }

    @Test func missingNamesAreAllListed() {
        #expect(throws: ExpansionError.missing(["ENV_A", "nope"])) {
            try PercentExpansion.expand("%(ENV_A)s %(nope)s %(ENV_A)s", values)
        }
    }

    @Test func malformed() {
        for bad in ["date +%s", "50%", "%(open", "%(program_name)d", "%(program_name)q"] {
            #expect(throws: ExpansionError.self, "\(bad)") { try PercentExpansion.expand(bad, values) }
        }
    }

    @Test func ignoreMissingKeepsText() throws {
        let out = try PercentExpansion.expand("%(process_num)02d %(ENV_HOME)s", ["ENV_HOME": .string("/r")],
                                              ignoreMissing: { !$0.hasPrefix("ENV_") })
        #expect(out == "%(process_num)02d /r")
    }
}

@Suite struct ConfigValueTests {
    @Test func booleans() throws {
        for t in ["true", "YES", "On", "1", "True"] { #expect(try ConfigValues.boolean(t).get() == true) }
        for f in ["false", "no", "OFF", "0"] { #expect(try ConfigValues.boolean(f).get() == false) }
        #expect(throws: ConfigValueError.self) { try ConfigValues.boolean("maybe").get() }
    }

    @Test func sizesAndDurations() throws {
        #expect(try ConfigValues.byteSize("50MB").get() == 50 * 1024 * 1024)
        #expect(try ConfigValues.byteSize("16kb").get() == 16 * 1024)
        #expect(try ConfigValues.byteSize("2GB").get() == 2 << 30)
        #expect(try ConfigValues.byteSize("0").get() == 0)
        #expect(throws: ConfigValueError.self) { try ConfigValues.byteSize("10M").get() }
        #expect(try ConfigValues.duration("5s").get() == .seconds(5))
        #expect(try ConfigValues.duration("100ms").get() == .milliseconds(100))
        #expect(try ConfigValues.duration("2m").get() == .seconds(120))
        #expect(try ConfigValues.duration("1h").get() == .seconds(3600))
        #expect(try ConfigValues.duration("10").get() == .seconds(10))
        #expect(throws: ConfigValueError.self) { try ConfigValues.duration("soon").get() }
    }

    @Test func signalsExitcodesOctal() throws {
        #expect(try ConfigValues.signal("TERM").get() == 15)
        #expect(try ConfigValues.signal("SIGTERM").get() == 15)
        #expect(try ConfigValues.signal("int").get() == 2)
        #expect(try ConfigValues.signal("QUIT").get() == 3)
        #expect(try ConfigValues.signal("HUP").get() == 1)
        #expect(try ConfigValues.signal("KILL").get() == 9)
        #expect(try ConfigValues.signal("USR1").get() == 10)
        #expect(try ConfigValues.signal("USR2").get() == 12)
        #expect(try ConfigValues.signal("9").get() == 9)
        #expect(throws: ConfigValueError.self) { try ConfigValues.signal("BOGUS").get() }
        #expect(try ConfigValues.exitcodes("0,1, 2").get() == [0, 1, 2])
        #expect(throws: ConfigValueError.self) { try ConfigValues.exitcodes("0,x").get() }
        #expect(try ConfigValues.octal("022").get() == 0o22)
        #expect(try ConfigValues.octal("0700").get() == 0o700)
        #expect(throws: ConfigValueError.self) { try ConfigValues.octal("089").get() }
        #expect(try ConfigValues.autorestart("unexpected").get() == .unexpected)
        #expect(try ConfigValues.autorestart("TRUE").get() == .always)
        #expect(try ConfigValues.autorestart("false").get() == .never)
    }

    @Test func proxyValues() throws {
        #expect(try ConfigValues.listenAddress("127.0.0.1:8080").get() == .tcp(host: "127.0.0.1", port: 8080))
        #expect(try ConfigValues.listenAddress(":8080").get() == .tcp(host: "0.0.0.0", port: 8080))
        #expect(try ConfigValues.listenAddress("[::1]:80").get() == .tcp(host: "::1", port: 80))
        #expect(try ConfigValues.listenAddress("unix:/run/x.sock").get() == .unix(path: "/run/x.sock"))
        #expect(throws: ConfigValueError.self) { try ConfigValues.listenAddress("8080x").get() }
        #expect(try ConfigValues.rateLimit("10r/s burst=20").get() == RateLimit(perSecond: 10, burst: 20))
        #expect(try ConfigValues.rateLimit("60r/m").get() == RateLimit(perSecond: 1, burst: 0))
        #expect(throws: ConfigValueError.self) { try ConfigValues.rateLimit("10/s").get() }
        #expect(try ConfigValues.accessLog("stdout json").get() == AccessLog(target: "stdout", format: .json))
        #expect(try ConfigValues.accessLog("/var/log/a.log").get() == AccessLog(target: "/var/log/a.log", format: .combined))
        #expect(try ConfigValues.accessLog("off").get() == nil)
        #expect(throws: ConfigValueError.self) { try ConfigValues.accessLog("stdout xml").get() }
    }
}

@Suite struct ConfigEnvironmentAndCommandTests {
    @Test func environmentLikeSupervisord() throws {
        #expect(try EnvironmentParser.parse(#"A="1",B='two words',C=/usr/bin:/bin,D=en_US.UTF-8"#).get()
                == ["A": "1", "B": "two words", "C": "/usr/bin:/bin", "D": "en_US.UTF-8"])
        #expect(try EnvironmentParser.parse("LANG=en_US.UTF-8, LC_ALL=en_US.UTF-8").get()
                == ["LANG": "en_US.UTF-8", "LC_ALL": "en_US.UTF-8"])
        #expect(try EnvironmentParser.parse("OLLAMA_HOST=0.0.0.0:11434,OLLAMA_ORIGINS=*").get()
                == ["OLLAMA_HOST": "0.0.0.0:11434", "OLLAMA_ORIGINS": "*"])
        // Over continuation lines, with a trailing comma.
        #expect(try EnvironmentParser.parse("\nA=\"x,y\",\nB=\"__B__\",\n").get() == ["A": "x,y", "B": "__B__"])
        #expect(try EnvironmentParser.parse("").get() == [:])
        #expect(throws: ConfigValueError.self) { try EnvironmentParser.parse("A=1,B").get() }
        #expect(throws: ConfigValueError.self) { try EnvironmentParser.parse("A=\"open").get() }
    }

    @Test func commandLikeShlex() throws {
        #expect(try CommandSplitter.split(#"nginx -g "daemon off;""#).get() == ["nginx", "-g", "daemon off;"])
        #expect(try CommandSplitter.split(#"bash -c 'echo "$HOME" \x'"#).get() == ["bash", "-c", #"echo "$HOME" \x"#])
        #expect(try CommandSplitter.split(#"a\ b "c\"d" e\\f"#).get() == ["a b", "c\"d", "e\\f"])
        #expect(try CommandSplitter.split("/bin/x \\\n--bind=1 \\\n--w 3").get() == ["/bin/x", "--bind=1", "--w", "3"])
        #expect(try CommandSplitter.split("/bin/x\n--one\n--two").get() == ["/bin/x", "--one", "--two"])
        #expect(throws: ConfigValueError.self) { try CommandSplitter.split("'open").get() }
    }
}

@Suite struct ConfigCPUBudgetTests {
    func fakeRoot(cgroup: String, files: [String: String]) -> TempDir {
        let dir = TempDir("cpubudget")
        dir.write("proc/self/cgroup", cgroup)
        for (path, text) in files { dir.write("sys/fs/cgroup" + path, text) }
        return dir
    }

    @Test func quotaAndAffinity() {
        let d = fakeRoot(cgroup: "0::/kubepods/pod1/c1\n", files: ["/kubepods/pod1/c1/cpu.max": "max 100000\n",
                                                                     "/kubepods/pod1/cpu.max": "250000 100000\n",
                                                                     "/cpu.max": "max 100000\n"])
        defer { d.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 8, fileRoot: d.path) == 3)  // 2.5 rounded up
        #expect(CPUBudget.usableCPUs(affinity: 2, fileRoot: d.path) == 2)
    }

    @Test func noQuotaOrV1() {
        let d = fakeRoot(cgroup: "4:memory:/x\n0::/\n", files: ["/cpu.max": "max 100000\n"])
        defer { d.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 6, fileRoot: d.path) == 6)
        let e = fakeRoot(cgroup: "1:cpu:/\n", files: [:])
        defer { e.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 4, fileRoot: e.path) == 4)
        let tiny = fakeRoot(cgroup: "0::/a\n", files: ["/a/cpu.max": "10000 100000"])
        defer { tiny.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 4, fileRoot: tiny.path) == 1)
        #expect(CPUBudget.usableCPUs() >= 1)
    }

    /// cgroup v1 (issue 15): cpu.cfs_quota_us / cpu.cfs_period_us and
    /// cpuset.cpus cap `auto` as cpu.max does on v2.
    @Test func cgroupV1QuotaAndCpuset() {
        let v1 = fakeRoot(cgroup: "12:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n3:cpuset:/kubepods/pod1/c1\n1:name=systemd:/x\n",
                          files: ["/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_quota_us": "-1\n",
                                  "/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_period_us": "100000\n",
                                  "/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us": "150000\n",
                                  "/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us": "100000\n",
                                  "/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
                                  "/cpuset/kubepods/pod1/c1/cpuset.cpus": "\n",
                                  "/cpuset/kubepods/pod1/cpuset.cpus": "0-5\n",
                                  "/cpuset/cpuset.cpus": "0-63\n"])
        defer { v1.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 64, fileRoot: v1.path) == 2, "1.5 CPUs of quota, rounded up")
        #expect(CPUBudget.cgroupCpuset(fileRoot: v1.path) == 6, "an empty cpuset.cpus is the parent's")

        // Docker without a cgroup namespace: the path is the host's, the mount the container's own cgroup.
        let docker = fakeRoot(cgroup: "5:cpuset:/docker/abc\n4:cpu,cpuacct:/docker/abc\n",
                              files: ["/cpu,cpuacct/cpu.cfs_quota_us": "300000\n", "/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
                                      "/cpuset/cpuset.cpus": "0,2-3,7\n"])
        defer { docker.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 16, fileRoot: docker.path) == 3)
        #expect(CPUBudget.cgroupCpuset(fileRoot: docker.path) == 4)
        #expect(CPUBudget.usableCPUs(affinity: 2, fileRoot: docker.path) == 2, "the affinity mask still caps")

        // The `cpu` link some distributions add beside cpu,cpuacct.
        let linked = fakeRoot(cgroup: "4:cpu,cpuacct:/\n", files: ["/cpu/cpu.cfs_quota_us": "50000\n"])
        defer { linked.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 8, fileRoot: linked.path) == 1)

        // v2's cpuset.
        let v2 = fakeRoot(cgroup: "0::/a/b\n", files: ["/a/b/cpuset.cpus.effective": "0-2,5\n", "/a/b/cpu.max": "max 100000\n"])
        defer { v2.cleanup() }
        #expect(CPUBudget.usableCPUs(affinity: 8, fileRoot: v2.path) == 4)

        #expect(CPUBudget.cpuListCount("0-3,8,10-11\n") == 7)
        #expect(CPUBudget.cpuListCount("") == nil && CPUBudget.cpuListCount("3-1") == nil && CPUBudget.cpuListCount("x") == nil)
    }

    @Test func autoCounts() {
        #expect(CPUBudget.autoCount("auto", usable: 4) == 4)
        #expect(CPUBudget.autoCount("auto-1", usable: 4) == 3)
        #expect(CPUBudget.autoCount("auto-1", usable: 1) == 1)
        #expect(CPUBudget.autoCount("4", usable: 4) == nil)
    }
}
