using System.Text;
using Conductor.Core.Identity;

namespace Conductor.Server.Jobs;

/// <summary>A piece of a job's output file, from a byte offset.</summary>
public sealed record OutputChunk(long Offset, long NextOffset, long Size, string Data);

/// <summary>
/// Reads job output files in bounded pieces, never a whole large file, and only as the job's owner could: the file is
/// opened with the owner's rights (when the server runs as root), never through a final symbolic link, and only
/// when it is a regular file — a FIFO or device named as output is never waited on.
/// </summary>
public static class JobOutputReader
{
    public const int MaxChunkBytes = 1024 * 1024;

    /// <summary>Reads up to <paramref name="limit"/> bytes from <paramref name="offset"/>, ending on a whole UTF-8 character.</summary>
    public static async Task<OutputChunk> ReadChunkAsync(string? path, string owner, long offset, int limit, CancellationToken ct)
    {
        limit = Math.Clamp(limit, 1, MaxChunkBytes);
        if (path is null || await OpenAsync(path, owner, ct) is not { } stream)
        {
            return new OutputChunk(offset, offset, 0, "");
        }

        await using (stream)
        {
            var size = stream.Length;
            if (offset >= size)
            {
                return new OutputChunk(offset, offset, size, "");
            }

            stream.Position = offset;
            var buffer = new byte[(int)Math.Min(limit, size - offset)];
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            var usable = read < buffer.Length ? read : WholeCharacters(buffer, read);
            return new OutputChunk(offset, offset + usable, size, Encoding.UTF8.GetString(buffer, 0, usable));
        }
    }

    /// <summary>
    /// The end of a file for a quick look: the whole file when it is under <paramref name="maxBytes"/>,
    /// else its last <paramref name="maxLines"/> lines within the last <paramref name="maxBytes"/>, after a note.
    /// </summary>
    public static async Task<string> ReadTailAsync(string? path, string owner, int maxBytes, int maxLines, CancellationToken ct)
    {
        if (path is null || await OpenAsync(path, owner, ct) is not { } stream)
        {
            return "";
        }

        await using (stream)
        {
            var size = stream.Length;
            if (size <= maxBytes)
            {
                var all = new byte[size];
                var n = await stream.ReadAtLeastAsync(all, all.Length, throwOnEndOfStream: false, ct);
                return Encoding.UTF8.GetString(all, 0, n);
            }

            stream.Position = size - maxBytes;
            var tail = new byte[maxBytes];
            var read = await stream.ReadAtLeastAsync(tail, tail.Length, throwOnEndOfStream: false, ct);
            var text = Encoding.UTF8.GetString(tail, 0, read);
            var firstNewline = text.IndexOf('\n', StringComparison.Ordinal);
            var lines = (firstNewline >= 0 ? text[(firstNewline + 1)..] : text).Split('\n');
            var kept = lines.Length > maxLines ? lines[^maxLines..] : lines;
            return $"...(showing the last {kept.Length} lines of {size} bytes)...\n" + string.Join('\n', kept);
        }
    }

    /// <summary>The file opened as its owner would open it, or null when it is missing, not theirs to read, or not a regular file.</summary>
    private static async Task<FileStream?> OpenAsync(string path, string owner, CancellationToken ct)
    {
        UnixUser? user = null;
        if (UnixUser.ProcessIsRoot)
        {
            user = UnixUser.FindByName(owner);
            if (user is null)
            {
                return null;
            }
        }

        try
        {
            return await UserFileAccess.RunAsync(user, () => SafeFiles.OpenForReading(path), UserFileAccess.DefaultTimeout, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TimeoutException)
        {
            return null;
        }
    }

    /// <summary>How many leading bytes form whole UTF-8 characters.</summary>
    private static int WholeCharacters(byte[] buffer, int count)
    {
        var i = count - 1;
        var back = 0;
        while (i >= 0 && back < 4 && (buffer[i] & 0xC0) == 0x80)
        {
            i--;
            back++;
        }

        if (i < 0)
        {
            return count;
        }

        var lead = buffer[i];
        var need = lead < 0x80 ? 1 : (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
        return back + 1 >= need ? count : i;
    }
}
