// The commands write to the process's console, which CliRun redirects: tests must not run concurrently.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
