import Glibc
import Drover

// Block the signals drover handles before anything can start a thread:
// a thread without them blocked could take a SIGCHLD the signalfd never sees.
Signals.blockHandled()
exit(DroverCommand.main(Array(CommandLine.arguments.dropFirst())))
