// The engine's thread count and default generator are process-wide, and training tests check
// bit-exact resume: test classes must not run concurrently.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
