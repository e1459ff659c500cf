/// drover's release version: one constant that the CLI (`drover version`)
/// and the status snapshot (`/v1/status`, `/metrics`) both report.
package enum DroverVersion {
    package static let current = "0.1.0"
}
