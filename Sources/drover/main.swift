import Glibc
import Drover

exit(DroverCommand.main(Array(CommandLine.arguments.dropFirst())))
