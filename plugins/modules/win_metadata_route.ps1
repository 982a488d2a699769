#!powershell

# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# The host's side of the IMDS route repair: carry out the changes the controller planned (if
# any) to the 169.254.169.254/32 routes, then read the routes and interfaces the planner needs.
# NetTCPIP cmdlets where the module exists (Server 2012 R2 and later), route.exe otherwise.

$spec = @{
    options = @{
        changes = @{
            type = 'list'
            elements = 'dict'
            default = @()
            options = @{
                action = @{ type = 'str'; required = $true; choices = @('remove', 'add', 'route_delete', 'route_add') }
                interface_index = @{ type = 'int' }
                interface_address = @{ type = 'str' }
                next_hop = @{ type = 'str'; default = '0.0.0.0' }
                store = @{ type = 'str'; default = 'ActiveStore'; choices = @('ActiveStore', 'PersistentStore') }
                metric = @{ type = 'int' }
                persistent = @{ type = 'bool'; default = $false }
            }
        }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$imdsPrefix = '169.254.169.254/32'
$imdsAddress = '169.254.169.254'
$hasNetRoute = $null -ne (Get-Command -Name Get-NetRoute -ErrorAction SilentlyContinue)

Function ConvertTo-Record {
    # Plain values only: the controller reads them as JSON.
    param ($InputObject, [string[]]$Property)

    $record = @{}
    foreach ($name in $Property) {
        $value = $InputObject.$name
        if ($value -is [Enum]) {
            $value = [string]$value
        }
        $record[$name] = $value
    }
    $record
}

Function Invoke-Change {
    # NetTCPIP: the first error ends the change. "denied" does not depend on the language of the
    # message: CIM status AccessDenied, E_ACCESSDENIED or UnauthorizedAccessException.
    param ([object[]]$Changes)

    $outcome = @{ ok = $true; denied = $false; error = '' }
    if (@($Changes | Where-Object { $_.action -like 'route_*' }).Count) {
        $output = [System.Collections.Generic.List[string]]@()
        foreach ($change in $Changes) {
            if ($change.action -eq 'route_delete') {
                $arguments = @('delete', $imdsAddress, 'mask', '255.255.255.255')
            }
            else {
                $arguments = @('add', $imdsAddress, 'mask', '255.255.255.255', $change.interface_address,
                    'metric', [string]$change.metric, 'IF', [string]$change.interface_index)
                if ($change.persistent) {
                    $arguments = @('-p') + $arguments
                }
            }
            $output.Add((& route.exe @arguments 2>&1 | Out-String))
            if ($LASTEXITCODE -ne 0) {
                $outcome.ok = $false
            }
        }
        $outcome.error = $output -join "`n"
        return $outcome
    }
    try {
        foreach ($change in $Changes) {
            if ($change.action -eq 'remove') {
                Remove-NetRoute -DestinationPrefix $imdsPrefix -InterfaceIndex $change.interface_index -NextHop $change.next_hop `
                    -PolicyStore $change.store -Confirm:$false -ErrorAction Stop
            }
            elseif ($change.persistent) {
                # New-NetRoute writes both stores by default; PersistentStore alone "cannot be used".
                $null = New-NetRoute -DestinationPrefix $imdsPrefix -InterfaceIndex $change.interface_index -NextHop '0.0.0.0' `
                    -RouteMetric $change.metric -ErrorAction Stop
            }
            else {
                $null = New-NetRoute -DestinationPrefix $imdsPrefix -InterfaceIndex $change.interface_index -NextHop '0.0.0.0' `
                    -RouteMetric $change.metric -PolicyStore ActiveStore -ErrorAction Stop
            }
        }
    }
    catch {
        $exception = $_.Exception
        $native = ''
        if ($exception.PSObject.Properties['NativeErrorCode']) {
            $native = [string]$exception.NativeErrorCode
        }
        $outcome.ok = $false
        $outcome.denied = ($native -eq 'AccessDenied') -or ($exception.HResult -eq -2147024891) -or
            ($exception -is [UnauthorizedAccessException])
        $outcome.error = $exception.Message
    }
    $outcome
}

Function Get-Route {
    param ([string]$Store)

    $keep = @('0.0.0.0/0', $imdsPrefix, '169.254.0.0/16')
    $pick = @('DestinationPrefix', 'NextHop', 'InterfaceIndex', 'InterfaceAlias', 'RouteMetric')
    @(Get-NetRoute -AddressFamily IPv4 -PolicyStore $Store -ErrorAction SilentlyContinue |
            Where-Object { $keep -contains $_.DestinationPrefix } |
            ForEach-Object { ConvertTo-Record -InputObject $_ -Property $pick })
}

if ($module.Params.changes.Count -and -not $module.CheckMode) {
    $module.Result.change = Invoke-Change -Changes $module.Params.changes
    $module.Result.changed = $true
}

$principal = New-Object -TypeName System.Security.Principal.WindowsPrincipal -ArgumentList ([System.Security.Principal.WindowsIdentity]::GetCurrent())
$module.Result.admin = $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
$module.Result.netroute = $hasNetRoute
if ($hasNetRoute) {
    $module.Result.active = Get-Route -Store ActiveStore
    $module.Result.persistent = Get-Route -Store PersistentStore
    $module.Result.interfaces = @(Get-NetIPInterface -AddressFamily IPv4 -ErrorAction SilentlyContinue |
            ForEach-Object { ConvertTo-Record -InputObject $_ -Property 'InterfaceIndex', 'InterfaceAlias', 'InterfaceMetric', 'ConnectionState' })
    $module.Result.addresses = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue |
            ForEach-Object { ConvertTo-Record -InputObject $_ -Property 'InterfaceIndex', 'IPAddress', 'PrefixLength', 'SkipAsSource' })
}
else {
    $module.Result.route_print = (& route.exe print -4 | Out-String)
    $module.Result.adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = TRUE' -ErrorAction SilentlyContinue |
            ForEach-Object { @{ InterfaceIndex = $_.InterfaceIndex; IPAddress = @($_.IPAddress) } })
}
$module.ExitJson()
