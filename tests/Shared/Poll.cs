namespace Conductor.Testing;

/// <summary>Waits for a condition with a deadline, checking often; never a fixed sleep. Shared by every test project.</summary>
public static class Poll
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Probes until <paramref name="done"/> holds for the value; the value, or a TimeoutException naming <paramref name="what"/> and the last value.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        T last = await probe();
        while (!done(last))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting for {what}; last value: {last}");
            }

            await Task.Delay(Interval);
            last = await probe();
        }

        return last;
    }

    public static Task UntilAsync(Func<bool> condition, TimeSpan timeout, string what) =>
        UntilAsync(() => Task.FromResult(condition()), ok => ok, timeout, what);

    /// <summary>Whether <paramref name="condition"/> came to hold before the deadline [10 s].</summary>
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        try
        {
            await UntilAsync(condition, timeout ?? TimeSpan.FromSeconds(10), "a condition");
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
