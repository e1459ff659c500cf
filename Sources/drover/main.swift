import Glibc
import CLI

exit(DroverCommand.main(Array(CommandLine.arguments.dropFirst())))
