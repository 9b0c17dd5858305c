import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps outgoing requests (webhook deliveries, provider calls) out of the network the
/// workers run in: an API token holder chooses webhook and connection URLs, and without
/// this a URL on 127.0.0.1, 10.0.0.0/8 or 169.254.169.254 (the cloud metadata service)
/// would make a worker speak to a service meant to be unreachable from outside (SSRF).
///
/// Two checks, the same rules:
/// - at creation, `refusal(forURL:)` looks at the URL's host (an address literal, a
///   `localhost` name, or what the name resolves to right now), so a mistake is reported
///   to the person making it;
/// - at connect time, `HTTPClient` checks the address curl actually connects to
///   (`CURLOPT_OPENSOCKETFUNCTION`), so a name that resolves elsewhere later (DNS
///   rebinding, a changed record) is refused all the same. Redirects are never followed.
///
/// An operator whose providers or receivers really are on a private network (and the demo
/// and the tests, whose simulators listen on 127.0.0.1) sets
/// `LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1`.
public enum NetworkGuard {
    /// The setting that lets outgoing requests reach private networks.
    public static let allowVariable = "LEDGERSYNC_ALLOW_PRIVATE_NETWORK"

    /// True when the environment allows private networks (`1`, `true` or `yes`).
    public static func privateNetworksAllowed(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment[allowVariable]?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return ["1", "true", "yes"].contains(value)
    }

    /// What kind of non-public address this IPv4 address is, or nil for a public one.
    public static func classify(ipv4 a: [UInt8]) -> String? {
        guard a.count == 4 else { return "malformed" }
        switch (a[0], a[1]) {
        case (0, _): return "unspecified (0.0.0.0/8)"
        case (127, _): return "loopback (127.0.0.0/8)"
        case (10, _): return "private (10.0.0.0/8)"
        case (172, 16...31): return "private (172.16.0.0/12)"
        case (192, 168): return "private (192.168.0.0/16)"
        case (169, 254): return "link-local (169.254.0.0/16)"
        case (100, 64...127): return "shared CGNAT (100.64.0.0/10)"
        case (192, 0) where a[2] == 0: return "IETF protocol assignments (192.0.0.0/24)"
        case (198, 18...19): return "benchmarking (198.18.0.0/15)"
        case (224...239, _): return "multicast (224.0.0.0/4)"
        case (240...255, _): return "reserved (240.0.0.0/4)"
        default: return nil
        }
    }

    /// What kind of non-public address this IPv6 address is, or nil for a public one. An
    /// IPv4 address carried inside one (`::ffff:10.0.0.1`, NAT64 `64:ff9b::/96`) is judged
    /// as that IPv4 address.
    public static func classify(ipv6 a: [UInt8]) -> String? {
        guard a.count == 16 else { return "malformed" }
        if a[0..<15].allSatisfy({ $0 == 0 }) {
            return a[15] == 1 ? "loopback (::1)" : a[15] == 0 ? "unspecified (::)" : "IPv4-compatible (::/96)"
        }
        if a[0..<10].allSatisfy({ $0 == 0 }), a[10] == 0xFF, a[11] == 0xFF {
            return classify(ipv4: Array(a[12..<16])).map { "IPv4-mapped \($0)" }
        }
        if a[0] == 0x00, a[1] == 0x64, a[2] == 0xFF, a[3] == 0x9B, a[4..<12].allSatisfy({ $0 == 0 }) {
            return classify(ipv4: Array(a[12..<16])).map { "NAT64 \($0)" }
        }
        if a[0] == 0xFE, a[1] & 0xC0 == 0x80 { return "link-local (fe80::/10)" }
        if a[0] & 0xFE == 0xFC { return "unique-local (fc00::/7)" }
        if a[0] == 0xFE, a[1] & 0xC0 == 0xC0 { return "site-local (fec0::/10)" }
        if a[0] == 0xFF { return "multicast (ff00::/8)" }
        return nil
    }

    /// The bytes of an address literal (`10.0.0.1`, `::1`, `[::1]`), nil when it is not one.
    public static func parseAddress(_ text: String) -> (family: Int32, bytes: [UInt8])? {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        // A zone id (fe80::1%eth0) names an interface; the address part decides.
        if let percent = literal.firstIndex(of: "%") { literal = String(literal[..<percent]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            return (AF_INET, withUnsafeBytes(of: &v4) { Array($0) })
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            return (AF_INET6, withUnsafeBytes(of: &v6) { Array($0) })
        }
        return nil
    }

    /// What kind of non-public address `family`/`bytes` is, or nil for a public one.
    public static func classify(family: Int32, bytes: [UInt8]) -> String? {
        switch family {
        case AF_INET: classify(ipv4: bytes)
        case AF_INET6: classify(ipv6: bytes)
        default: "not an internet address"
        }
    }

    /// The address in its usual text form (`10.0.0.1`, `::1`).
    public static func format(family: Int32, bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "?"
    }

    /// Why a request to `url` must not be made, or nil when it may: its host is an address
    /// literal of a non-public network, `localhost` (or a name under `.localhost`), or a
    /// name that resolves now to such an address. A name that does not resolve now is
    /// accepted (DNS may not be set up yet); the connect-time check still applies.
    /// The answer names the host and the kind of address, never the URL's path or query.
    public static func refusal(forURL url: String) -> String? {
        guard let host = URLComponents(string: url)?.host, !host.isEmpty else { return nil }
        return refusal(forHost: host)
    }

    /// `refusal(forURL:)` for a bare host name or address literal.
    public static func refusal(forHost rawHost: String) -> String? {
        var host = rawHost.lowercased()
        if host.hasSuffix(".") { host.removeLast() }
        if let (family, bytes) = parseAddress(host), let kind = classify(family: family, bytes: bytes) {
            return "\(rawHost) is a \(kind) address"
        }
        if host == "localhost" || host.hasSuffix(".localhost") {
            return "\(rawHost) is a loopback name"
        }
        if parseAddress(host) != nil { return nil }
        for (family, bytes) in resolve(host) {
            if let kind = classify(family: family, bytes: bytes) {
                return "\(rawHost) resolves to \(format(family: family, bytes: bytes)), a \(kind) address"
            }
        }
        return nil
    }

    /// The error text of a refusal, with what an operator can do about it.
    public static func explain(_ refusal: String) -> String {
        "\(refusal): requests to loopback, private and link-local networks are refused (an operator allows them with \(allowVariable)=1)"
    }

    /// Every address `host` resolves to now; empty when it does not resolve.
    static func resolve(_ host: String) -> [(Int32, [UInt8])] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var addresses: [(Int32, [UInt8])] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let address = entry.pointee.ai_addr, let parsed = socketAddress(UnsafeRawPointer(address)) {
                addresses.append(parsed)
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    /// The family and address bytes of a `sockaddr_in` or `sockaddr_in6`.
    static func socketAddress(_ pointer: UnsafeRawPointer) -> (Int32, [UInt8])? {
        let family = Int32(pointer.loadUnaligned(as: sockaddr.self).sa_family)
        switch family {
        case AF_INET:
            var address = pointer.loadUnaligned(as: sockaddr_in.self).sin_addr
            return (AF_INET, withUnsafeBytes(of: &address) { Array($0) })
        case AF_INET6:
            var address = pointer.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            return (AF_INET6, withUnsafeBytes(of: &address) { Array($0) })
        default:
            return nil
        }
    }
}
