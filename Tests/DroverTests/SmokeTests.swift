import Testing
import Foundation

@Test func binariesAreBuilt() {
    #expect(FileManager.default.isExecutableFile(atPath: Binaries.drover))
}
