namespace MGit.Tests.TestSupport;

/// <summary>Small /bin/sh programs that tests register as model tests and recipes.</summary>
public static class Scripts
{
    /// <summary>Writes an executable script and returns its path.</summary>
    public static string Write(string path, string body)
    {
        File.WriteAllText(path, "#!/bin/sh\nset -eu\n" + body.ReplaceLineEndings("\n") + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return path;
    }

    /// <summary>
    /// The script as a command: run through sh rather than executed directly, because a file just
    /// written can be briefly held open by a process forked meanwhile, and exec then fails (ETXTBSY).
    /// </summary>
    public static string Command(string path) => "sh " + Quote(path);

    /// <summary>The argument as the template tokenizer reads it: single-quoted, with inner quotes escaped.</summary>
    public static string Quote(string path) => "'" + path.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
