// `etcd --help`: etcd prints a short usage block and then every flag by group, each as
// "  --flag 'default'" followed by an indented description. Ours is generated from the flag table.

enum HelpText {
    static let usage = """
        Usage:

          etcd [flags]
            Start an etcd server.

          etcd --version
            Show the version of etcd.

          etcd -h | --help
            Show the help information about etcd.

          etcd --config-file
            Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.

        """

    /// Usage block plus the flags by group.
    static func full(_ specs: [FlagSpec]) -> String {
        var out = usage
        for section in FlagSection.allCases where section != .hidden {
            out += "\n\(section.rawValue):\n"
            if section == .deprecated { out += "\n" }
            for spec in specs where spec.section == section {
                let shown = spec.helpDefault ?? spec.defaultText
                let quoted = spec.name.hasPrefix("proxy-") || spec.name.hasPrefix("auth-token-ttl")
                    || spec.name == "bcrypt-cost" ? shown : "'\(shown)'"
                out += "  --\(spec.name) \(quoted)\n    \(spec.usage)\n"
            }
            if section == .unsafe {
                out += "\nCAUTIOUS with unsafe flag! It may break the guarantees given by the consensus protocol!\n"
            }
        }
        return out
    }
}
