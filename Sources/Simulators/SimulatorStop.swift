/// How the simulators stop (`NetSuiteSimulator.stop`, `ZohoBooksSimulator.stop`): a graceful
/// shutdown first, then, for a request still in progress after `gracePeriod` (a delayed
/// answer), cancelling.
enum SimulatorStop {
    static let gracePeriod: Duration = .seconds(1)
}
