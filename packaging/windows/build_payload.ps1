# Builds DalalDesk's Windows payload (the onedir bundle) and, when NSIS is installed, its
# installer. Run on a Windows machine or runner from the repository root:
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build_payload.ps1
#
# Needs Python 3.12 (python.org or the "py" launcher) and, for the installer, NSIS 3
# (https://nsis.sourceforge.io, or `winget install NSIS.NSIS`). Optional: -SignCommand, run on
# each executable with {file} replaced by its path, e.g.
#   -SignCommand 'signtool sign /a /fd SHA256 /tr http://timestamp.digicert.com /td SHA256 {file}'
param(
    [string]$Python = "py -3.12",
    [string]$SignCommand = ""
)
$ErrorActionPreference = "Stop"
Set-Location (Resolve-Path "$PSScriptRoot\..\..")

$venv = "build\win-venv"
if (-not (Test-Path "$venv\Scripts\python.exe")) {
    Invoke-Expression "$Python -m venv $venv"
}
& "$venv\Scripts\python.exe" -m pip install --upgrade pip
& "$venv\Scripts\python.exe" -m pip install . "pyinstaller>=6.10"
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }

$makensis = Get-Command makensis -ErrorAction SilentlyContinue
if (-not $makensis -and (Test-Path "${env:ProgramFiles(x86)}\NSIS\makensis.exe")) {
    $env:PATH += ";${env:ProgramFiles(x86)}\NSIS"
}
$arguments = @("packaging\build.py", "windows")
if ($SignCommand) { $arguments += @("--sign-command", $SignCommand) }
& "$venv\Scripts\python.exe" @arguments
if ($LASTEXITCODE -ne 0) { throw "the Windows build failed" }

# The frozen app's smoke test, as the Linux CI runs it. dalaldesk.exe is a windowed (GUI
# subsystem) program: `&` neither waits for one nor sets $LASTEXITCODE from it, so a failing
# smoke test passed unseen. Start-Process -Wait waits for it and -PassThru gives its exit code;
# the screenshot must be there too (a stale one is removed first).
$env:QT_QPA_PLATFORM = "offscreen"
$shot = Join-Path (Get-Location) "dist\dalaldesk-smoke-windows.png"
Remove-Item $shot -ErrorAction SilentlyContinue
$smoke = Start-Process -FilePath "dist\dalaldesk\dalaldesk.exe" `
    -ArgumentList @("--smoke", "--smoke-out", "`"$shot`"") -Wait -PassThru
if ($smoke.ExitCode -ne 0) { throw "the frozen app's smoke test failed (exit code $($smoke.ExitCode))" }
if (-not (Test-Path $shot)) { throw "the frozen app's smoke test saved no screenshot at $shot" }

# The console twin runs the command lines (a console program: `&` waits and sets $LASTEXITCODE).
& "dist\dalaldesk\dalaldesk-cli.exe" --version
if ($LASTEXITCODE -ne 0) { throw "dalaldesk-cli.exe --version failed" }
& "dist\dalaldesk\dalaldesk-cli.exe" backtest --help
if ($LASTEXITCODE -ne 0) { throw "dalaldesk-cli.exe backtest --help failed" }
Write-Host "payload: dist\dalaldesk\  installer: dist\dalaldesk-*-windows-setup.exe"
