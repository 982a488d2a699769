#!powershell

# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

#AnsibleRequires -CSharpUtil Ansible.Basic

# What the facts need to know about the host besides IMDS: the raw SMBIOS table (parsed on the
# controller with the same rules as DMI on Linux) and environment variables of the host.

$spec = @{
    options = @{
        smbios = @{ type = 'bool'; default = $true }
        env = @{ type = 'list'; elements = 'str'; default = @() }
    }
    supports_check_mode = $true
}
$module = [Ansible.Basic.AnsibleModule]::Create($args, $spec)

$module.Result.smbios = $null
if ($module.Params.smbios) {
    try {
        # The table as GetSystemFirmwareTable('RSMB') returns it; Windows keeps a copy here.
        $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\mssmbios\Data'
        $raw = (Get-ItemProperty -LiteralPath $key -Name SMBiosData -ErrorAction Stop).SMBiosData
        $module.Result.smbios = [Convert]::ToBase64String([byte[]]$raw)
    }
    catch {
        $module.Result.smbios_error = [string]$_.Exception.Message
        try {
            $enclosure = Get-CimInstance -ClassName Win32_SystemEnclosure -ErrorAction Stop | Select-Object -First 1
            $system = Get-CimInstance -ClassName Win32_ComputerSystem -ErrorAction Stop | Select-Object -First 1
            $module.Result.cim = @{ asset_tag = [string]$enclosure.SMBIOSAssetTag; vendor = [string]$system.Manufacturer }
        }
        catch {
            $module.Result.cim_error = [string]$_.Exception.Message
        }
    }
}

$values = @{}
foreach ($name in $module.Params.env) {
    $values[$name] = [Environment]::GetEnvironmentVariable($name)
}
$module.Result.env = $values
$module.ExitJson()
