using System.Text;
using MGit.Errors;

namespace MGit.Execution;

/// <summary>
/// A command line with <c>{placeholders}</c>, split into arguments the way a POSIX shell splits words
/// (whitespace, 'single' and "double" quotes, backslash escapes) but never run by a shell: each
/// placeholder is replaced inside its own argument, so a model path with spaces, <c>;</c> or
/// <c>$( )</c> stays one harmless argument. <c>{{</c> and <c>}}</c> are literal braces. A template
/// that needs a shell says so itself: <c>sh -c 'eval.sh "$1" | tail -1' sh {model}</c>.
/// </summary>
internal sealed class CommandTemplate
{
    private readonly IReadOnlyList<IReadOnlyList<TemplatePart>> _words;

    private CommandTemplate(string text, IReadOnlyList<IReadOnlyList<TemplatePart>> words)
    {
        Text = text;
        _words = words;
    }

    /// <summary>The template as the user wrote it.</summary>
    public string Text { get; }

    /// <summary>Every placeholder used, as written between the braces ("model", "parent:base").</summary>
    public IReadOnlyList<string> Placeholders => _words.SelectMany(w => w).Where(p => p.IsPlaceholder).Select(p => p.Text).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Parses <paramref name="text"/>; <paramref name="what"/> names it in errors ("--cmd", "the recipe").
    /// <paramref name="validate"/> gets each placeholder and returns an error message for an unknown one, or null.
    /// </summary>
    public static CommandTemplate Parse(string text, string what, Func<string, string?> validate)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = new List<IReadOnlyList<TemplatePart>>();
        var parts = new List<TemplatePart>();
        var literal = new StringBuilder();
        bool inWord = false;
        char quote = '\0';

        void FlushLiteral()
        {
            if (literal.Length > 0)
            {
                parts.Add(new TemplatePart(false, literal.ToString()));
                literal.Clear();
            }
        }

        void EndWord()
        {
            FlushLiteral();
            if (inWord)
            {
                words.Add(parts.Count == 0 ? [new TemplatePart(false, "")] : parts.ToList());
            }

            parts.Clear();
            inWord = false;
        }

        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quote == '\'')
            {
                if (c == '\'')
                {
                    quote = '\0';
                    continue;
                }
            }
            else if (quote == '"' && c == '"')
            {
                quote = '\0';
                continue;
            }
            else if (quote == '\0' && char.IsWhiteSpace(c))
            {
                EndWord();
                continue;
            }
            else if (quote == '\0' && c is '\'' or '"')
            {
                quote = c;
                inWord = true;
                continue;
            }
            else if (c == '\\')
            {
                if (i + 1 >= text.Length)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{what} ends with a lone backslash");
                }

                char next = text[i + 1];
                // Inside double quotes a backslash only escapes what the shell lets it escape.
                if (quote == '\0' || next is '"' or '\\' or '$' or '`')
                {
                    literal.Append(next);
                    i++;
                    inWord = true;
                    continue;
                }
            }

            inWord = true;
            if (c == '{' && i + 1 < text.Length && text[i + 1] == '{')
            {
                literal.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < text.Length && text[i + 1] == '}')
            {
                literal.Append('}');
                i++;
            }
            else if (c == '{')
            {
                int close = text.IndexOf('}', i + 1);
                if (close < 0)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{what} has an unclosed '{{' (write '{{{{' for a literal brace)");
                }

                string name = text[(i + 1)..close];
                if (validate(name) is { } problem)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{what}: {problem}");
                }

                FlushLiteral();
                parts.Add(new TemplatePart(true, name));
                i = close;
            }
            else if (c == '}')
            {
                throw new MGitException(ErrorKind.InvalidInput, $"{what} has a '}}' without '{{' (write '}}}}' for a literal brace)");
            }
            else
            {
                literal.Append(c);
            }
        }

        if (quote != '\0')
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what} has an unclosed {quote} quote");
        }

        EndWord();
        if (words.Count == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what} is empty");
        }

        if (words[0].Count == 1 && !words[0][0].IsPlaceholder && words[0][0].Text.Length == 0)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"{what} starts with an empty program name");
        }

        return new CommandTemplate(text, words);
    }

    /// <summary>
    /// The argument list with every placeholder replaced. A placeholder with several values (such
    /// as <c>{parents}</c>) must stand alone as an argument and becomes one argument per value.
    /// </summary>
    public IReadOnlyList<string> Expand(Func<string, IReadOnlyList<string>> values)
    {
        var arguments = new List<string>();
        foreach (var word in _words)
        {
            if (word.Count == 1 && word[0].IsPlaceholder)
            {
                arguments.AddRange(values(word[0].Text));
                continue;
            }

            var builder = new StringBuilder();
            foreach (var part in word)
            {
                if (!part.IsPlaceholder)
                {
                    builder.Append(part.Text);
                    continue;
                }

                var expanded = values(part.Text);
                if (expanded.Count != 1)
                {
                    throw new MGitException(ErrorKind.InvalidInput, $"{{{part.Text}}} stands for {expanded.Count} values, so it must be a whole argument of its own");
                }

                builder.Append(expanded[0]);
            }

            arguments.Add(builder.ToString());
        }

        return arguments;
    }

    public override string ToString() => Text;

    private sealed record TemplatePart(bool IsPlaceholder, string Text);
}
