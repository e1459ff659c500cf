import CSystem
import Glibc

/// `drover completion bash|zsh` (SPEC §2): a completion script generated
/// from the same subcommand table the CLI parses and prints help from, so
/// a new subcommand or option completes without touching this file.
/// Process and program names come from the running daemon through the
/// hidden `drover __complete-names`, which never prints an error.
enum CompletionCommand {
    static let shells = ["bash", "zsh"]

    /// What the positional arguments of a subcommand are.
    enum Arguments {
        case none
        /// `group:process`, `group`, `group:*`, `all`.
        case names
        /// Programs (then nothing): `scale PROG N`.
        case program
        /// A signal, then names.
        case signalThenNames
        case shells
        case subcommands
        case files
    }

    static func arguments(of name: String) -> Arguments {
        switch name {
        case "status", "start", "stop", "restart", "tail", "pid": return .names
        case "scale": return .program
        case "signal": return .signalThenNames
        case "completion": return .shells
        case "help": return .subcommands
        case "run", "check": return .files
        default: return .none
        }
    }

    static let signals = ["HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "TTIN", "TTOU", "WINCH"]

    /// Options before the subcommand (`drover -s SOCK status`).
    static let globalOptions = ["-s", "--socket", "-c", "--config", "-h", "--help", "--version"]

    // MARK: Entry points

    static func run(_ arguments: [String]) throws -> Int32 {
        let sub = DroverCommand.subcommands.first { $0.name == "completion" }
        // `drover -s SOCK completion bash` passes the leading options on: not ours.
        var arguments = arguments
        while let first = arguments.first, ["-s", "--socket", "-c", "--config"].contains(first), arguments.count >= 2 {
            arguments.removeFirst(2)
        }
        arguments.removeAll { $0.hasPrefix("--socket=") || $0.hasPrefix("--config=") }
        guard arguments.count == 1, let shell = arguments.first else {
            throw DroverCommand.UsageError(message: arguments.isEmpty ? "give a shell: bash or zsh" : "unexpected argument '\(arguments[1])'",
                                           subcommand: sub)
        }
        switch shell {
        case "bash": print(bashScript(), terminator: "")
        case "zsh": print(zshScript(), terminator: "")
        default:
            throw DroverCommand.UsageError(message: "no completion for '\(shell)' (bash or zsh)", subcommand: sub)
        }
        return 0
    }

    /// `drover __complete-names [-s SOCK] [-c FILE] [--programs]`: one name
    /// a line, nothing at all (and exit 0) when the daemon is not there.
    static func completeNames(_ arguments: [String]) -> Int32 {
        var socket: String?, config: String?, programsOnly = false
        var index = 0
        while index < arguments.count {
            if arguments[index].hasPrefix("--socket=") { socket = String(arguments[index].dropFirst(9)) }
            if arguments[index].hasPrefix("--config=") { config = String(arguments[index].dropFirst(9)) }
            switch arguments[index] {
            case "-s", "--socket" where index + 1 < arguments.count:
                socket = arguments[index + 1]; index += 1
            case "-c", "--config" where index + 1 < arguments.count:
                config = arguments[index + 1]; index += 1
            case "--programs": programsOnly = true
            default: break
            }
            index += 1
        }
        let client = ControlClient(socketPath: ControlClient.discover(
            explicit: socket, configPath: config, environment: ProcessEnvironment.current()))
        guard let response = try? client.request("GET", "/v1/status"), response.status == 200,
              let processes = response.json?["processes"]?.arrayValue else { return 0 }
        var names: [String] = programsOnly ? [] : ["all"]
        var seen = Set(names)
        func add(_ name: String) { if seen.insert(name).inserted { names.append(name) } }
        for process in processes {
            if programsOnly {
                if let program = process["program"]?.stringValue { add(program) }
                continue
            }
            if let group = process["group"]?.stringValue { add(group); add(group + ":*") }
            if let program = process["program"]?.stringValue { add(program) }
        }
        if !programsOnly {
            for process in processes { if let name = process["name"]?.stringValue { add(name) } }
        }
        for name in names { print(name) }
        return 0
    }

    // MARK: The table, as the scripts need it

    struct Entry {
        var name: String
        var abstract: String
        /// Every spelling of every option (`-f`, `--follow`).
        var flags: [String]
        /// The spellings that take a value.
        var valueFlags: [String]
        var arguments: Arguments
    }

    static var entries: [Entry] {
        DroverCommand.subcommands.map { sub in
            var flags: [String] = [], valueFlags: [String] = []
            let options = sub.options + (sub.needsDaemon ? DroverCommand.Subcommand.socketOptions : [])
            for (spelling, _) in options {
                let parsed = parseFlags(spelling)
                flags += parsed.flags
                if parsed.takesValue { valueFlags += parsed.flags }
            }
            flags += ["-h", "--help"]
            return Entry(name: sub.name, abstract: sub.abstract, flags: unique(flags), valueFlags: unique(valueFlags),
                         arguments: arguments(of: sub.name))
        } + [Entry(name: "help", abstract: "Show help for a subcommand.", flags: [], valueFlags: [], arguments: .subcommands)]
    }

    /// `-f, --follow` → ([-f, --follow], false); `--workers <n>|auto` → ([--workers], true).
    static func parseFlags(_ spelling: String) -> (flags: [String], takesValue: Bool) {
        var flags: [String] = []
        for part in spelling.split(separator: ",") {
            let word = part.split(separator: " ").first.map(String.init) ?? ""
            // `-<bytes>` (tail -1600) is a form, not a word to complete.
            if word.hasPrefix("-") && !word.hasPrefix("-<") { flags.append(word) }
        }
        return (flags, !flags.isEmpty && spelling.contains("<"))
    }

    static func unique(_ items: [String]) -> [String] {
        var seen = Set<String>()
        return items.filter { seen.insert($0).inserted }
    }

    /// Every option that takes a value, of any subcommand (to skip its value
    /// when looking for the subcommand and counting arguments).
    static var allValueFlags: [String] {
        unique(["-s", "--socket", "-c", "--config"] + entries.flatMap(\.valueFlags))
    }

    // MARK: bash

    static func bashScript() -> String {
        let entries = entries
        var script = """
        # bash completion for drover (generated by `drover completion bash`)
        #   source <(drover completion bash)
        # or save it as /etc/bash_completion.d/drover (or
        # ~/.local/share/bash-completion/completions/drover).

        _drover_names() {
            # Process or program names from the running daemon, through the
            # socket or config given on the command line being completed.
            local -a conn=()
            local i
            for ((i = 1; i < ${#_drover_words[@]} - 1; i++)); do
                case "${_drover_words[i]}" in
                    -s|--socket|-c|--config) conn+=("${_drover_words[i]}" "${_drover_words[i+1]}") ;;
                esac
            done
            "${_drover_words[0]}" __complete-names "${conn[@]}" "$@" 2>/dev/null
        }

        _drover_reply() {
            # Candidates in $1 matching the word being completed; names hold
            # ':' which bash splits words on, so strip what is already typed.
            # (mapfile: no glob expansion of `web:*`.)
            mapfile -t COMPREPLY < <(compgen -W "$1" -- "$_drover_cur")
            if [[ "$_drover_cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
                local prefix="${_drover_cur%"${_drover_cur##*:}"}"
                local i
                for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="${COMPREPLY[i]#"$prefix"}"; done
            fi
        }

        _drover() {
            # Words split on blanks only (not on ':' as COMP_WORDS is).
            local line="${COMP_LINE:0:COMP_POINT}"
            local -a _drover_words
            read -r -a _drover_words <<< "$line"
            local _drover_cur=""
            if [[ "$line" != *[[:space:]] && ${#_drover_words[@]} -gt 0 ]]; then
                _drover_cur="${_drover_words[${#_drover_words[@]}-1]}"
            else
                _drover_words+=("")
            fi
            local count=${#_drover_words[@]}
            local prev=""
            ((count > 1)) && prev="${_drover_words[count-2]}"
            local sub="" nargs=0 i word dashdash=0
            for ((i = 1; i < count - 1; i++)); do
                word="${_drover_words[i]}"
                if ((dashdash)); then ((nargs++)); continue; fi
                case "$word" in
                    \(bashAlternatives(allValueFlags))) ((i++)) ;;
                    --) dashdash=1 ;;
                    -*) ;;
                    *) if [[ -z "$sub" ]]; then sub="$word"; else ((nargs++)); fi ;;
                esac
            done
            case "$prev" in
                -s|--socket|-c|--config) COMPREPLY=($(compgen -f -- "$_drover_cur")); return ;;
                \(bashAlternatives(allValueFlags))) COMPREPLY=(); return ;;
            esac
            if [[ -z "$sub" ]]; then
                if [[ "$_drover_cur" == -* ]]; then
                    _drover_reply "\(globalOptions.joined(separator: " "))"
                else
                    _drover_reply "\(entries.map(\.name).joined(separator: " "))"
                fi
                return
            fi
            if ((dashdash)); then COMPREPLY=($(compgen -f -- "$_drover_cur")); return; fi
            if [[ "$_drover_cur" == -* ]]; then
                case "$sub" in

        """
        for entry in entries where !entry.flags.isEmpty {
            script += "                \(entry.name)) _drover_reply \"\(entry.flags.joined(separator: " "))\" ;;\n"
        }
        script += """
                esac
                return
            fi
            case "$sub" in

        """
        for entry in entries {
            let action: String
            switch entry.arguments {
            case .none: action = "COMPREPLY=()"
            case .names: action = "_drover_reply \"$(_drover_names)\""
            case .program: action = "((nargs == 0)) && _drover_reply \"$(_drover_names --programs)\""
            case .signalThenNames:
                action = "if ((nargs == 0)); then _drover_reply \"\(signals.joined(separator: " "))\"; else _drover_reply \"$(_drover_names)\"; fi"
            case .shells: action = "((nargs == 0)) && _drover_reply \"\(shells.joined(separator: " "))\""
            case .subcommands: action = "((nargs == 0)) && _drover_reply \"\(entries.map(\.name).joined(separator: " "))\""
            case .files: action = "COMPREPLY=($(compgen -f -- \"$_drover_cur\"))"
            }
            script += "        \(entry.name)) \(action) ;;\n"
        }
        script += """
            esac
            return 0
        }

        complete -o default -F _drover drover

        """
        return script
    }

    static func bashAlternatives(_ flags: [String]) -> String {
        flags.joined(separator: "|")
    }

    // MARK: zsh

    static func zshScript() -> String {
        let entries = entries
        func quoted(_ text: String) -> String {
            "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
        }
        var script = """
        #compdef drover
        # zsh completion for drover (generated by `drover completion zsh`)
        #   source <(drover completion zsh)      (after compinit)
        # or save it as _drover in a directory of $fpath.

        _drover_names() {
          local -a conn names
          local i
          for ((i = 2; i < CURRENT; i++)); do
            case ${words[i]} in
              -s|--socket|-c|--config) conn+=(${words[i]} ${words[i+1]}) ;;
            esac
          done
          names=(${(f)"$(${words[1]} __complete-names $conn $@ 2>/dev/null)"})
          compadd -a names
        }

        _drover() {
          local -a subcommands
          subcommands=(

        """
        for entry in entries {
            script += "    " + quoted(entry.name + ":" + entry.abstract) + "\n"
        }
        script += """
          )
          local sub="" word
          local -i nargs=0 i dashdash=0
          for ((i = 2; i < CURRENT; i++)); do
            word=${words[i]}
            if ((dashdash)); then ((nargs++)); continue; fi
            case $word in
              \(bashAlternatives(allValueFlags))) ((i++)) ;;
              --) dashdash=1 ;;
              -*) ;;
              *) if [[ -z $sub ]]; then sub=$word; else ((nargs++)); fi ;;
            esac
          done
          case ${words[CURRENT-1]} in
            -s|--socket|-c|--config) _files; return ;;
            \(bashAlternatives(allValueFlags))) return ;;
          esac
          if [[ -z $sub ]]; then
            if [[ ${words[CURRENT]} == -* ]]; then
              compadd -- \(globalOptions.joined(separator: " "))
            else
              _describe -t commands 'drover subcommand' subcommands
            fi
            return
          fi
          if ((dashdash)); then _files; return; fi
          if [[ ${words[CURRENT]} == -* ]]; then
            case $sub in

        """
        for entry in entries where !entry.flags.isEmpty {
            script += "      \(entry.name)) compadd -- \(entry.flags.joined(separator: " ")) ;;\n"
        }
        script += """
            esac
            return
          fi
          case $sub in

        """
        for entry in entries {
            let action: String
            switch entry.arguments {
            case .none: action = ":"
            case .names: action = "_drover_names"
            case .program: action = "((nargs == 0)) && _drover_names --programs"
            case .signalThenNames:
                action = "if ((nargs == 0)); then compadd -- \(signals.joined(separator: " ")); else _drover_names; fi"
            case .shells: action = "((nargs == 0)) && compadd -- \(shells.joined(separator: " "))"
            case .subcommands: action = "((nargs == 0)) && _describe -t commands 'drover subcommand' subcommands"
            case .files: action = "_files"
            }
            script += "    \(entry.name)) \(action) ;;\n"
        }
        script += """
          esac
        }

        if [[ ${funcstack[1]} == _drover ]]; then
          _drover "$@"
        else
          compdef _drover drover
        fi

        """
        return script
    }
}
