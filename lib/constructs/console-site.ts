import { cpSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AssetHashType, Aws, DockerImage, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib'
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  Function as CloudFrontFunction,
  FunctionCode,
  FunctionEventType,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront'
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins'
import { type IUserPool, OAuthScope, UserPoolClient, UserPoolClientIdentityProvider, UserPoolDomain } from 'aws-cdk-lib/aws-cognito'
import { Bucket, type CfnBucket } from 'aws-cdk-lib/aws-s3'
import { BucketDeployment, Source } from 'aws-cdk-lib/aws-s3-deployment'
import { Construct } from 'constructs'
import { consoleContentSecurityPolicy } from '../../console/security-headers.ts'
import { buildConsole } from '../../scripts/build-console.mjs'
import { LAMBDA_BASIC_EXECUTION_FINDING } from '../nag.ts'
import { PRIVATE_BUCKET } from './private-bucket.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** The path the console is built for (Vite's `base`) and the key prefix its files live under. */
export const CONSOLE_PREFIX = 'console/'

export interface ConsoleSiteProps {
  readonly userPool: IUserPool
  /** Globally unique per region: `<prefix>.auth.<region>.amazoncognito.com`. */
  readonly domainPrefix: string
  /** The user pool's token issuer (`https://cognito-idp.<region>.amazonaws.com/<poolId>`). */
  readonly issuer: string
  readonly stage: string
  readonly autoDeleteObjects: boolean
}

/**
 * The moderation console: its built files (console/dist) in a private bucket that only CloudFront
 * reads (origin access control), served over HTTPS with security headers and a CSP, any unknown
 * path under /console/ answered with index.html (the SPA's own router takes it from there); plus
 * what it signs in with, the user pool's hosted-UI domain and a public app client of its own
 * (authorization code with PKCE, no secret, callback and sign-out URLs on this distribution only).
 */
export class ConsoleSite extends Construct {
  readonly bucket: Bucket
  readonly distribution: Distribution
  readonly domain: UserPoolDomain
  readonly client: UserPoolClient
  /** `https://<id>.cloudfront.net`: the origin the HTTP API's CORS must allow. */
  readonly origin: string
  /** Where admins go: `https://<id>.cloudfront.net/console/`. */
  readonly url: string
  private readonly props: ConsoleSiteProps
  private readonly hostedUi: string

  constructor(scope: Construct, id: string, props: ConsoleSiteProps) {
    super(scope, id)
    this.props = props

    this.bucket = new Bucket(this, 'Bucket', {
      ...PRIVATE_BUCKET,
      // Only build output lives here, redeployed on every deploy: nothing to keep.
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: props.autoDeleteObjects,
    })
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Holds only the public build output of the console, read only by CloudFront through OAC; requests are visible in CloudFront metrics, and no object here is sensitive.',
    })

    this.domain = new UserPoolDomain(this, 'HostedUiDomain', {
      userPool: props.userPool,
      cognitoDomain: { domainPrefix: props.domainPrefix },
    })
    const hostedUi = this.domain.baseUrl()
    this.hostedUi = hostedUi
    const region = Stack.of(this).region
    const issuerOrigin = `https://cognito-idp.${region}.${Aws.URL_SUFFIX}`
    // Any HTTP API of this region, not this one's URL: the API's CORS names this distribution, so
    // naming the API here would make a dependency cycle (API → distribution → headers → API).
    const apiOrigins = `https://*.execute-api.${region}.${Aws.URL_SUFFIX}`

    const headers = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'trainer-chat console: CSP and security headers',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: consoleContentSecurityPolicy({ api: apiOrigins, issuer: issuerOrigin, hostedUi }),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, preload: false, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
      },
    })

    // `/` has nothing: send it to the console.
    const rootRedirect = new CloudFrontFunction(this, 'RootRedirect', {
      comment: 'Redirects / to /console/',
      code: FunctionCode.fromInline(
        `function handler(event) { var r = event.request; if (r.uri === '/') { return { statusCode: 302, statusDescription: 'Found', headers: { location: { value: '/${CONSOLE_PREFIX}' } } }; } return r; }`,
      ),
    })

    this.distribution = new Distribution(this, 'Distribution', {
      comment: `trainer-chat ${props.stage} moderation console`,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: headers,
        compress: true,
        functionAssociations: [{ function: rootRedirect, eventType: FunctionEventType.VIEWER_REQUEST }],
      },
      // The bucket cannot be listed, so a missing key is 403: both mean "a route of the SPA".
      errorResponses: [403, 404].map((httpStatus) => ({
        httpStatus,
        responseHttpStatus: 200,
        responsePagePath: `/${CONSOLE_PREFIX}index.html`,
        ttl: Duration.seconds(0),
      })),
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
    })
    const nag = (id: string, reason: string) => Validations.of(this.distribution).acknowledge({ id, reason })
    nag('AwsSolutions-CFR1', 'An operators\' console for a global team; access is decided by Cognito sign-in and the API, not by country.')
    nag('AwsSolutions-CFR2', 'Static files only; every request that matters goes to the HTTP API, which has throttling and JWT auth. A WAF web ACL (~$5/month + per request) can be attached later if abuse shows up.')
    nag('AwsSolutions-CFR3', 'Standard logs would record only static file fetches of a build that holds nothing sensitive; what admins do is in the API access logs and the audit trail.')
    nag('AwsSolutions-CFR4', 'The default *.cloudfront.net certificate cannot pin a minimum TLS version; HTTPS is enforced (redirect) and HSTS is sent. A custom domain with its own certificate sets TLSv1.2_2021.')

    this.origin = `https://${this.distribution.distributionDomainName}`
    this.url = `${this.origin}/${CONSOLE_PREFIX}`

    // In this construct's stack, not the pool's (addClient would put it there): its URLs name this distribution.
    this.client = new UserPoolClient(this, 'ConsoleClient', {
      userPool: props.userPool,
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: [`${this.url}auth-callback`],
        logoutUrls: [this.url],
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      // An operator's session: a working day, then the hosted UI again.
      refreshTokenValidity: Duration.hours(12),
    })
  }

  /** Uploads the build and its config.json (pointing at the API) and invalidates what must not be cached. */
  publish(apiUrl: string): BucketDeployment {
    const props = this.props
    const hostedUi = this.hostedUi
    const deployment = new BucketDeployment(this, 'Files', {
      destinationBucket: this.bucket,
      destinationKeyPrefix: CONSOLE_PREFIX,
      sources: [
        consoleBuild(),
        Source.jsonData('config.json', {
          apiUrl,
          issuer: props.issuer,
          domain: hostedUi,
          clientId: this.client.userPoolClientId,
          stage: props.stage,
        }),
      ],
      distribution: this.distribution,
      distributionPaths: [`/${CONSOLE_PREFIX}index.html`, `/${CONSOLE_PREFIX}config.json`],
      memoryLimit: 512,
    })
    // The deployment's copy function is CDK's own singleton; these are its fixed grants.
    Validations.of(deployment.handlerRole).acknowledge({
      id: LAMBDA_BASIC_EXECUTION_FINDING,
      reason: 'CDK\'s BucketDeployment function: CloudWatch Logs for its own log group, nothing else.',
    })
    const wildcards: Record<string, string> = {
      'Action::s3:GetObject*': 'read the uploaded build from the CDK asset bucket',
      'Action::s3:GetBucket*': 'read the uploaded build from the CDK asset bucket',
      'Action::s3:List*': 'list the asset and this bucket to sync them',
      'Action::s3:DeleteObject*': 'remove files of the previous build from this bucket',
      'Action::s3:Abort*': 'abort its own multipart uploads to this bucket',
      [`Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>/*`]: 'objects of this bucket: the build\'s file names are known only at deploy time',
      'Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*': 'the CDK bootstrap asset bucket, where the build is uploaded',
      'Resource::*': 'cloudfront:CreateInvalidation / GetInvalidation, which take no resource narrower than *',
    }
    for (const [finding, why] of Object.entries(wildcards)) {
      Validations.of(deployment.handlerRole).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason: `CDK's BucketDeployment function: ${why}.` })
    }
    // The copy function is a stack-level singleton of CDK's (one per memory size), on the runtime CDK pins.
    const copier = Stack.of(this).node.children.find((child) => child.node.id.startsWith('Custom::CDKBucketDeployment'))
    if (copier) {
      Validations.of(copier).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'CDK\'s BucketDeployment function runs the Python runtime that aws-cdk-lib pins for it; it runs only during deployments and is upgraded with aws-cdk-lib.',
      })
    }
    return deployment
  }
}

/**
 * console/dist as a CDK asset: "bundling" is the console build, run locally (no Docker) when the
 * sources changed; skipped, like every bundling step, when synth is asked not to bundle.
 */
function consoleBuild() {
  return Source.asset(join(ROOT, 'console'), {
    exclude: ['node_modules', 'dist'],
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('local-build-only'),
      local: {
        tryBundle(outputDir: string) {
          buildConsole({ log: () => {} })
          cpSync(join(ROOT, 'console', 'dist'), outputDir, { recursive: true, filter: (path) => !path.endsWith('.source-hash') })
          return true
        },
      },
    },
  })
}
