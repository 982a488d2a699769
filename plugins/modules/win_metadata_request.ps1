#!powershell

# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# One HTTP exchange with the metadata service, bounded in time and size. The controller builds
# the request and reads the answer (retries, version negotiation, validation): this module
# only carries it. No proxy, no redirects, no keep-alive, no decompression; one deadline of
# timeout_ms covers the connect, the request, the status line, the headers and the body; at
# most max_bytes of a body are kept.

$spec = @{
    options = @{
        url = @{ type = 'str'; required = $true }
        method = @{ type = 'str'; default = 'GET'; choices = @('GET', 'POST') }
        headers = @{ type = 'dict'; default = @{} }
        body = @{ type = 'str' }
        timeout_ms = @{ type = 'int'; required = $true }
        max_bytes = @{ type = 'int'; required = $true }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$timeoutMs = $module.Params.timeout_ms
$maxBytes = $module.Params.max_bytes
$clock = [System.Diagnostics.Stopwatch]::StartNew()

Function Get-RemainingMs {
    # What is left of the single deadline; never below 1 ms so that a wait returns at once.
    [int][Math]::Max(1, $timeoutMs - $clock.ElapsedMilliseconds)
}

Function Test-Expired {
    $clock.ElapsedMilliseconds -ge $timeoutMs
}

Function New-Failure {
    # The failure of one phase (connect, request, read) and the .NET exception chain behind it.
    param (
        [string]$Phase,
        [bool]$TimedOut = $false,
        [System.Exception]$Exception = $null,
        [string]$Message = ''
    )

    $chain = [System.Collections.Generic.List[object]]@()
    $current = $Exception
    while ($null -ne $current) {
        $item = @{ type = $current.GetType().FullName; message = [string]$current.Message }
        if ($current -is [System.Net.WebException]) {
            $item.status = [string]$current.Status
        }
        if ($current -is [System.Net.Sockets.SocketException]) {
            $item.socket = [string]$current.SocketErrorCode
        }
        $chain.Add($item)
        $current = $current.InnerException
    }
    if (-not $Message) {
        $Message = if ($chain.Count) { $chain[$chain.Count - 1].message } else { "the $Phase phase failed" }
    }
    @{ transport_error = @{ phase = $Phase; timeout = $TimedOut; chain = @($chain) }; msg = $Message }
}

Function Invoke-Exchange {
    $uri = [Uri]$module.Params.url

    # A bounded TCP connect first: HttpWebRequest.Timeout covers connecting and waiting for the
    # answer alike, and the controller retries "no connection" and "no answer" differently.
    $family = [System.Net.Sockets.AddressFamily]::InterNetwork
    if ($uri.HostNameType -eq [UriHostNameType]::IPv6) {
        $family = [System.Net.Sockets.AddressFamily]::InterNetworkV6
    }
    $probe = New-Object -TypeName System.Net.Sockets.TcpClient -ArgumentList $family
    try {
        $pending = $probe.BeginConnect($uri.DnsSafeHost, $uri.Port, $null, $null)
        if (-not $pending.AsyncWaitHandle.WaitOne((Get-RemainingMs))) {
            return New-Failure -Phase 'connect' -TimedOut $true -Message "connection timed out after $timeoutMs ms"
        }
        $probe.EndConnect($pending)
    }
    catch {
        return New-Failure -Phase 'connect' -Exception $_.Exception
    }
    finally {
        $probe.Close()
    }

    $response = $null
    try {
        $request = [System.Net.WebRequest]::Create($uri)
        $request.Method = $module.Params.method
        # No proxy, as Ansible.ModuleUtils.WebRequest does when use_proxy is false.
        $request.Proxy = $null
        $request.AllowAutoRedirect = $false
        $request.KeepAlive = $false
        $request.AutomaticDecompression = [System.Net.DecompressionMethods]::None
        if ($PSVersionTable.PSVersion.Major -lt 6) {
            # ServicePoint belongs to .NET Framework (Windows PowerShell 5.1); PowerShell 7's HttpWebRequest runs on HttpClient.
            $request.ServicePoint.Expect100Continue = $false
        }
        $request.Timeout = Get-RemainingMs
        $request.ReadWriteTimeout = Get-RemainingMs
        foreach ($name in $module.Params.headers.Keys) {
            $value = [string]$module.Params.headers[$name]
            switch ($name) {
                'Content-Type' { $request.ContentType = $value }
                'User-Agent' { $request.UserAgent = $value }
                'Accept' { $request.Accept = $value }
                default { $request.Headers.Add($name, $value) }
            }
        }
        if ($null -ne $module.Params.body) {
            $payload = [Convert]::FromBase64String($module.Params.body)
            $request.ContentLength = $payload.Length
            $upload = $request.GetRequestStream()
            try {
                $upload.Write($payload, 0, $payload.Length)
            }
            finally {
                $upload.Close()
            }
        }
        $response = $request.GetResponse()
    }
    catch {
        # An HTTP error status is an answer too: WebException carries its response.
        $web = $_.Exception
        while ($null -ne $web -and $web -isnot [System.Net.WebException]) {
            $web = $web.InnerException
        }
        if ($null -eq $web -or $null -eq $web.Response) {
            return New-Failure -Phase 'request' -TimedOut (Test-Expired) -Exception $_.Exception
        }
        $response = $web.Response
    }

    try {
        $headers = @{}
        foreach ($name in $response.Headers.AllKeys) {
            $headers[$name] = [string]$response.Headers[$name]
        }
        $result = @{ status = [int]$response.StatusCode; headers = $headers; body = ''; truncated = $false }
        if ($response.ContentLength -gt $maxBytes) {
            $result.truncated = $true
            return $result
        }
        $kept = [System.Collections.Generic.List[byte]]::new()
        $buffer = New-Object -TypeName byte[] -ArgumentList 65536
        $stream = $response.GetResponseStream()
        while ($true) {
            # Each read waits only for what is left of the deadline: ReadWriteTimeout has no
            # effect on PowerShell 7's .NET (dotnet/runtime#34550 in corefx).
            $wanted = [int][Math]::Min($buffer.Length, $maxBytes + 1 - $kept.Count)
            $read = $stream.ReadAsync($buffer, 0, $wanted)
            if (-not $read.Wait((Get-RemainingMs)) -or (Test-Expired)) {
                return New-Failure -Phase 'read' -TimedOut $true -Message "the answer did not complete within $timeoutMs ms"
            }
            if ($read.Result -le 0) {
                break
            }
            $kept.AddRange([byte[]]$buffer[0..($read.Result - 1)])
            if ($kept.Count -gt $maxBytes) {
                $result.truncated = $true
                return $result
            }
        }
        $result.body = [Convert]::ToBase64String($kept.ToArray())
        $result
    }
    catch {
        New-Failure -Phase 'read' -TimedOut (Test-Expired) -Exception $_.Exception
    }
    finally {
        $response.Close()
    }
}

$outcome = Invoke-Exchange
foreach ($key in $outcome.Keys) {
    if ($key -ne 'msg') {
        $module.Result.$key = $outcome.$key
    }
}
if ($outcome.ContainsKey('transport_error')) {
    $module.FailJson($outcome.msg)
}
$module.ExitJson()
