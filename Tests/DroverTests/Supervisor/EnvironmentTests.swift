import Foundation
import Testing

@Suite struct WorkerEnvironmentTests {
    @Test func workersSeeConfigAndDroverVariables() throws {
        let dir = TempDir("env")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [supervisord]
            environment = SHARED="from supervisord",OVERRIDDEN=base

            [program:web]
            command = /bin/sh -c 'echo "port=$PORT name=$DROVER_PROCESS_NAME num=$DROVER_PROCESS_NUM sup=$SUPERVISOR_PROCESS_NAME group=$SUPERVISOR_GROUP_NAME shared=$SHARED own=$OWN over=$OVERRIDDEN cwd=$(pwd)"; exec sleep 60'
            process_name = web_%(process_num)02d
            numprocs = 2
            numprocs_start = 1
            port = 24300
            directory = /tmp
            environment = OWN=yes,OVERRIDDEN=program
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("web_01 | port=24300 name=web_01 num=1 sup=web_01 group=web shared=from supervisord own=yes over=program cwd=/tmp")
        drover.waitForLine("web_02 | port=24301 name=web_02 num=2 sup=web_02 group=web")
    }

    @Test func umaskIsApplied() throws {
        let dir = TempDir("umask")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:masked]
            command = /bin/sh -c 'umask; exec sleep 60'
            umask = 027
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("masked | 0027")
    }

    @Test func userDropsPrivilegesWhenRoot() throws {
        let dir = TempDir("user")
        defer { dir.cleanup() }
        chmod(dir.path, 0o755)
        let drover = try DroverHarness(config: """
            [program:lowly]
            command = /bin/sh -c 'echo "uid=$(id -u) gid=$(id -g) home=$HOME user=$USER"; exec sleep 60'
            user = nobody
            """, in: dir)
        defer { drover.terminate() }
        if geteuid() == 0 {
            drover.waitForLine("lowly | uid=65534", "user=nobody")
        } else {
            // Not root: switching user is an error naming the key.
            #expect(drover.waitForExit() == 1)
            #expect(drover.transcript.contains("user"))
        }
    }
}
