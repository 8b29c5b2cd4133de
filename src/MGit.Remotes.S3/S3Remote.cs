using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MGit.Errors;

namespace MGit.Remotes.S3;

/// <summary>
/// A remote in an S3 bucket under a prefix (<c>s3://bucket/prefix</c>), on AWS or any
/// S3-compatible server (<c>--endpoint</c>). Credentials and region come from the standard AWS
/// environment variables, else from the SDK's usual chain (profile and config files).
/// </summary>
/// <remarks>
/// S3-compatible servers differ from AWS in small ways: path-style addressing is used whenever
/// an endpoint is given, and the SDK's newer default payload checksums and chunked uploads are
/// turned off (only sent when an operation requires them), which servers such as MinIO's older
/// releases or s3rver do not understand. Conditional writes are not assumed (many servers ignore
/// If-Match on PUT), so the lock is built from plain PUT, LIST and DELETE; see <see cref="LockAsync"/>.
/// </remarks>
public sealed class S3Remote : IRemoteBackend
{
    /// <summary>
    /// Makes s3:// remotes open in this process (<see cref="RemoteBackends.Register(IRemoteBackendFactory)"/>):
    /// call once at start-up, before the first push, pull or clone of an S3 remote. Calling it again is harmless.
    /// </summary>
    public static void Register() => RemoteBackends.Register(new S3RemoteFactory());

    /// <summary>A lock not refreshed for this long belongs to a dead process and is ignored (and removed).</summary>
    public static readonly TimeSpan LockExpiry = TimeSpan.FromMinutes(2);

    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _prefix;

    /// <summary>Sets up a client for a bucket and key prefix; nothing is sent until the first call.</summary>
    /// <param name="url">The remote's URL as the user gave it, for messages.</param>
    /// <param name="bucket">The bucket holding the remote.</param>
    /// <param name="prefix">The folder inside the bucket under which every key lives; "" for the bucket's root.</param>
    /// <param name="endpoint">An S3-compatible server (http:// or https://); null for AWS itself.</param>
    /// <param name="environment">Reads the AWS variables (credentials, region); empty values count as unset.</param>
    /// <exception cref="MGitException">The endpoint is not an http(s) URL, the credential variables are half set, or the client cannot be set up.</exception>
    public S3Remote(string url, string bucket, string prefix, string? endpoint, Func<string, string?> environment)
    {
        Url = url;
        _bucket = bucket;
        _prefix = prefix.Length == 0 ? "" : prefix.TrimEnd('/') + "/";

        // A variable set to nothing (AWS_SESSION_TOKEN= in a script) counts as unset, as the AWS CLI treats it.
        string? Variable(string name) => environment(name) is { Length: > 0 } value ? value : null;
        string? region = Variable("AWS_REGION") ?? Variable("AWS_DEFAULT_REGION");
        if (endpoint is not null)
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) || (endpointUri.Scheme != "http" && endpointUri.Scheme != "https"))
            {
                throw new MGitException(ErrorKind.InvalidInput, $"--endpoint must be an http:// or https:// URL, not '{RemoteBackends.Redact(endpoint)}'");
            }

            // An S3-compatible server is not on EC2: never let the SDK ask the EC2 instance
            // metadata service (a link-local address) for a region or credentials.
            region ??= "us-east-1";
            if (System.Environment.GetEnvironmentVariable("AWS_EC2_METADATA_DISABLED") is null)
            {
                System.Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
            }
        }

        var config = new AmazonS3Config
        {
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 2,
            Timeout = TimeSpan.FromMinutes(5),
        };

        // The region first (an explicit one keeps the SDK from looking for one), then the endpoint.
        if (region is not null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }

        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            config.ForcePathStyle = true;
            config.AuthenticationRegion = region;
        }

        string? key = Variable("AWS_ACCESS_KEY_ID");
        string? secret = Variable("AWS_SECRET_ACCESS_KEY");
        string? token = Variable("AWS_SESSION_TOKEN");
        if ((key is null) != (secret is null) || (token is not null && key is null))
        {
            // Half a key pair would otherwise fall through to a profile the user did not mean (or to the SDK's own, less clear, refusal).
            string problem = (key, secret) switch
            {
                (null, null) => "AWS_SESSION_TOKEN is set but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are empty or unset",
                (null, _) => "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is empty or unset",
                _ => "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is empty or unset",
            };
            throw new MGitException(ErrorKind.InvalidInput, $"remote {url}: {problem}; set both, or neither to use a ~/.aws/credentials profile");
        }

        try
        {
            _client = key is not null && secret is not null
                ? new AmazonS3Client(token is null ? new BasicAWSCredentials(key, secret) : new SessionAWSCredentials(key, secret, token), config)
                : new AmazonS3Client(config);
        }
        catch (AmazonClientException e)
        {
            throw new MGitException(ErrorKind.InvalidInput, $"remote {url}: cannot set up the S3 client: {e.Message}{(region is null && endpoint is null ? " (set AWS_REGION, or a region in ~/.aws/config)" : "")}");
        }
    }

    /// <inheritdoc/>
    public string Url { get; }

    /// <inheritdoc/>
    public Task<IReadOnlyList<RemoteFile>> ListAsync(string prefix, CancellationToken cancel) => Call(prefix, async () =>
    {
        var keys = new List<RemoteFile>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix + prefix };
        while (true)
        {
            var response = await _client.ListObjectsV2Async(request, cancel).ConfigureAwait(false);
            foreach (var entry in response.S3Objects ?? [])
            {
                keys.Add(new RemoteFile(entry.Key[_prefix.Length..], entry.Size ?? 0, entry.LastModified is DateTime at ? new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)) : null));
            }

            if (response.IsTruncated != true || string.IsNullOrEmpty(response.NextContinuationToken))
            {
                return (IReadOnlyList<RemoteFile>)keys;
            }

            request.ContinuationToken = response.NextContinuationToken;
        }
    });

    /// <summary>
    /// A GET that fails on the client's side (a body that breaks off or fails the SDK's MD5 check
    /// of the ETag, or headers it cannot parse) is made again, up to eight times, after pauses that double.
    /// refs/lineage is overwritten by every push and racing pushes may upload the same object
    /// twice; servers that overwrite in place (s3rver does; AWS itself never does) then serve a
    /// reader a torn response. Answers from the server (not found, refused) are final.
    /// </summary>
    public Task<bool> DownloadAsync(string key, string localPath, long maxBytes, CancellationToken cancel) => Call(key, async () =>
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await DownloadOnceAsync(key, localPath, maxBytes, cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < DownloadAttempts && IsTornResponse(e) && !cancel.IsCancellationRequested)
            {
                // Backing off doubles the pause (with jitter) so a read outlasts a slow
                // overwrite: about 3.5 s over all attempts.
                await Task.Delay(Math.Min(1000, 25 << attempt) + Random.Shared.Next(0, 25), cancel).ConfigureAwait(false);
            }
        }
    });

    private const int DownloadAttempts = 8;

    /// <summary>Not an answer of the server, nor a local failure (the target file, a limit we set).</summary>
    private static bool IsTornResponse(Exception e) => e switch
    {
        AmazonServiceException or MGitException or OperationCanceledException or UnauthorizedAccessException => false,
        HttpIOException => true,
        IOException => false,
        _ => true,
    };

    private async Task<bool> DownloadOnceAsync(string key, string localPath, long maxBytes, CancellationToken cancel)
    {
        GetObjectResponse response;
        try
        {
            response = await _client.GetObjectAsync(_bucket, _prefix + key, cancel).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != "NoSuchBucket")
        {
            return false;
        }

        using (response)
        {
            if (response.ContentLength > maxBytes)
            {
                throw new MGitException(ErrorKind.Damaged, $"remote {Url}: {key} is {response.ContentLength} bytes, more than the {maxBytes} allowed");
            }

            var target = new FileStream(localPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using var targetDisposal = target.ConfigureAwait(false);
            await response.ResponseStream.CopyToAsync(target, cancel).ConfigureAwait(false);
            if (target.Length > maxBytes)
            {
                throw new MGitException(ErrorKind.Damaged, $"remote {Url}: {key} is more than the {maxBytes} bytes allowed");
            }
        }

        return true;
    }

    /// <inheritdoc/>
    public Task UploadAsync(string key, string localPath, CancellationToken cancel) => Call(key, async () =>
    {
        await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = _prefix + key, FilePath = localPath, UseChunkEncoding = false }, cancel).ConfigureAwait(false);
        return true;
    });

    /// <inheritdoc/>
    public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancel) => Call(key, async () =>
    {
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = _prefix + key, InputStream = stream, UseChunkEncoding = false, AutoCloseStream = false }, cancel).ConfigureAwait(false);
        return true;
    });

    /// <inheritdoc/>
    public Task DeleteAsync(string key, CancellationToken cancel) => Call(key, async () =>
    {
        await _client.DeleteObjectAsync(_bucket, _prefix + key, cancel).ConfigureAwait(false);
        return true;
    });

    /// <summary>
    /// Mutual exclusion from PUT, LIST and DELETE alone (S3 lists are strongly consistent): write
    /// a claim <c>locks/NAME/TOKEN</c>, then list the claims. The lock is held only when ours is the
    /// only live claim; otherwise ours is withdrawn and the attempt repeats after a random pause.
    /// Two claimants can never both see themselves alone: whichever listed second listed after both
    /// claims existed. Claims older than <see cref="LockExpiry"/> (measured against our own claim's
    /// server time, so client clocks do not matter) are from dead processes and are removed.
    /// </summary>
    public async Task<IAsyncDisposable> LockAsync(string name, TimeSpan wait, CancellationToken cancel)
    {
        string folder = $"{RemoteLayout.LockPrefix}{name}/";
        string anchor = $"{folder}{AnchorName}";
        var deadline = DateTime.UtcNow + wait;

        // A claim-free object that is never deleted keeps the lock's "folder" from ever being empty:
        // file-backed S3 servers (s3rver) remove a folder when its last object goes, and fail a
        // write racing with that removal. Real S3 has no folders; there it is one small PUT.
        await PutAsync(anchor, "anchor"u8.ToArray(), cancel).ConfigureAwait(false);
        while (true)
        {
            string mine = $"{folder}{DateTime.UtcNow:yyyyMMddHHmmssfff}-{Guid.NewGuid():N}";
            await PutAsync(mine, "lock"u8.ToArray(), cancel).ConfigureAwait(false);
            var claims = await Call(folder, async () =>
            {
                var response = await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix + folder }, cancel).ConfigureAwait(false);
                return (response.S3Objects ?? []).Select(o => (Key: o.Key[_prefix.Length..], Modified: o.LastModified ?? DateTime.MinValue)).ToList();
            }).ConfigureAwait(false);
            var ownTime = claims.FirstOrDefault(c => c.Key == mine).Modified;
            var live = new List<string>();
            foreach (var (key, modified) in claims.Where(c => c.Key != mine && c.Key != anchor))
            {
                if (ownTime - modified > LockExpiry)
                {
                    await DeleteAsync(key, cancel).ConfigureAwait(false); // left by a process that died holding it
                }
                else
                {
                    live.Add(key);
                }
            }

            if (live.Count == 0)
            {
                return new HeldLock(this, mine);
            }

            await DeleteAsync(mine, cancel).ConfigureAwait(false);
            if (DateTime.UtcNow >= deadline)
            {
                throw new MGitException(ErrorKind.Locked, $"remote {Url} is locked by another push; try again when it is done");
            }

            await Task.Delay(Random.Shared.Next(50, 400), cancel).ConfigureAwait(false);
        }
    }

    private const string AnchorName = "anchor";

    private sealed class HeldLock(S3Remote remote, string key) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await remote.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Turns the SDK's exceptions into one line naming the remote and what went wrong.</summary>
    private async Task<T> Call<T>(string key, Func<Task<T>> operation)
    {
        try
        {
            return await operation().ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchBucket")
        {
            throw new MGitException(ErrorKind.NotFound, $"remote {Url}: bucket '{_bucket}' does not exist");
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied" or "ExpiredToken" or "InvalidToken")
        {
            throw new MGitException(ErrorKind.Io, $"remote {Url}: access refused ({e.ErrorCode}: {e.Message}); check the AWS credentials");
        }
        catch (AmazonServiceException e)
        {
            throw new MGitException(ErrorKind.Io, $"remote {Url}: {key}: {e.ErrorCode ?? e.StatusCode.ToString()}: {e.Message}");
        }
        catch (AmazonClientException e)
        {
            throw new MGitException(ErrorKind.Io, $"remote {Url}: {Innermost(e)}");
        }
        catch (HttpRequestException e)
        {
            throw new MGitException(ErrorKind.Io, $"remote {Url}: cannot reach the server: {Innermost(e)}");
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new MGitException(ErrorKind.Io, $"remote {Url}: the server did not answer in time");
        }
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e.Message;
    }

    /// <inheritdoc/>
    public void Dispose() => _client.Dispose();
}
