namespace Conductor.Server.Api;

// The request and answer bodies of the job and node control routes, apart from the endpoints so that the native
// build of the CLI compiles them too.

/// <param name="Signal">A name (USR1, SIGUSR1) or a number.</param>
/// <param name="Batch">Only the batch script's shell, not every process of the job (scancel --batch).</param>
public sealed record SignalRequestBody(string? Signal, bool? Batch);

public sealed record DrainRequest(string? Reason);

/// <param name="Result">What happened: updated, signalled, requeued, or stopping (a running job being stopped to be requeued).</param>
public sealed record JobActionResponse(string JobId, string Result);

public sealed record NodeActionResponse(string Node, string Result);
