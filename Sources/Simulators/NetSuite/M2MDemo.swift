import NetSuite

// The demo OAuth 2.0 M2M integration of the simulator: a client id, a certificate id and an EC
// P-256 key pair made with openssl for the simulator only. NOT A SECRET: like the TBA demo
// credentials (`Configuration.demoCredentials`), it opens nothing but a simulator. Never use
// this key for a real NetSuite account.

extension NetSuiteSimulator.Configuration {
    /// The demo client id (an integration record's client id at NetSuite).
    public static let demoM2MClientID = "demo-m2m-client-id"
    /// The demo certificate id (what NetSuite shows for an M2M mapping).
    public static let demoM2MCertificateID = "demo-m2m-certificate-id"

    /// DEMO ONLY, NOT A SECRET: the private key of `demoM2MCertificatePEM`.
    public static let demoM2MPrivateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgij6b9HJIDk1F/i46
        rOoPOpOZzwTpNcOTg0am5ztYLJ+hRANCAARtUBjMDGJzCV5FQTlqoKH3pKj5gX9C
        zbxsj+myLs0pnhm32C1+f71hWb5AHLXbNUNM5RYQIhlXpI9D7W7odnOS
        -----END PRIVATE KEY-----
        """

    /// The demo certificate (self-signed, EC P-256), as uploaded to an M2M mapping.
    public static let demoM2MCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBujCCAWGgAwIBAgIULL96HrOoKqHh8GmTkzvGnYENuogwCgYIKoZIzj0EAwIw
        MzExMC8GA1UEAwwoTGVkZ2Vyc3luYyBzaW11bGF0b3IgZGVtbyAobm90IGEgc2Vj
        cmV0KTAeFw0yNjEyMDMxMDE0MTFaFw00NjExMjgxMDE0MTFaMDMxMTAvBgNVBAMM
        KExlZGdlcnN5bmMgc2ltdWxhdG9yIGRlbW8gKG5vdCBhIHNlY3JldCkwWTATBgcq
        hkjOPQIBBggqhkjOPQMBBwNCAARtUBjMDGJzCV5FQTlqoKH3pKj5gX9Czbxsj+my
        Ls0pnhm32C1+f71hWb5AHLXbNUNM5RYQIhlXpI9D7W7odnOSo1MwUTAdBgNVHQ4E
        FgQUodgDMo4/w0dCJfLjAPlbRtCUZMswHwYDVR0jBBgwFoAUodgDMo4/w0dCJfLj
        APlbRtCUZMswDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiBfWM1g
        RDMHJ4muYNLFa3eFqlm80TV4g/tsHf3Tz6z5aQIgRhVxFpWU8g7qTqCiVO5SeD2l
        x0N7odCYRMm09ejTgKI=
        -----END CERTIFICATE-----
        """

    /// The demo mapping the simulator accepts without options.
    public static let demoM2MMapping = NetSuiteSimulator.M2MMapping(
        clientID: demoM2MClientID, certificateID: demoM2MCertificateID, publicKeyPEM: demoM2MCertificatePEM)

    /// The credentials a client uses with the demo mapping.
    public static let demoM2MCredentials = NetSuiteM2MCredentials(
        clientID: demoM2MClientID, certificateID: demoM2MCertificateID, privateKeyPEM: demoM2MPrivateKeyPEM)
}
