namespace HieraRS.NN.Distributed;

/// <summary>Synchronised batch norm: the training statistics of every <see cref="BatchNorm2d"/> of a model over the global batch of all ranks.</summary>
public static class SyncBatchNorm
{
    public static void Apply(Module model, ICommunicator comm)
    {
        if (comm.Size == 1) return;
        foreach (var (_, m) in model.NamedModules())
            if (m is BatchNorm2d bn) bn.SumOverProcesses = comm.AllReduceSum;
    }
}
